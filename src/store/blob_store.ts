// Content-addressed blobs on disk. Every blob is written to a temp file in the same filesystem,
// verified by the caller, then renamed into place: rename is atomic, so a crash at any moment
// leaves either no blob or a complete one, never a partial file under a blob name.
//
// Deleting a blob (eviction, the orphan sweep) decides from a KV snapshot that nothing refers to
// it, then unlinks it by path. Meanwhile a writer may store the same bytes again and write a new
// record for them: it renames its copy over the blob, then commits its record. So the unlink and
// the rename of one digest take the same lock, and a deletion with a guard is refused when the
// blob was stored again (renamed over an existing copy) recently or since the deletion pass
// began: the writer's record may not be in the snapshot yet. Files and directories are the
// owner's only (0600, 0700): private packages live here.
import { KeyedLock } from "./keyed_lock.ts";
import { statfs } from "node:fs/promises";
import { join } from "node:path";
import { sha256Hex } from "./hashing.ts";

const HEX64 = /^[0-9a-f]{64}$/;
/** Files the store writes: the owner's only. */
export const FILE_MODE = 0o600;
export const DIRECTORY_MODE = 0o700;
/**
 * How long a blob that was stored again (the same bytes over an existing copy) is never deleted:
 * far longer than any writer takes between storing a blob and committing its record (ms).
 */
export const RESTORED_HOLD_MS = 10 * 60 * 1000;

/** What a deletion checks under the blob's lock before it unlinks (see BlobStore.remove). */
export interface RemoveGuard {
  /** BlobStore.generation when the caller began deciding (before its KV snapshot). */
  since: number;
  /** Only a blob whose file was last modified before this time (ms, file system time). */
  modifiedBefore?: number;
}

/** The store's filesystem has no room for a file (found before writing it). */
export class DiskFullError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DiskFullError";
  }
}

/**
 * Whether an error means the data dir's disk is full: ENOSPC from a write (Deno throws a plain
 * Error with code "ENOSPC", "No space left on device (os error 28)"), KV's SQLite "database or
 * disk is full", or a DiskFullError.
 */
export function isDiskFull(error: unknown): boolean {
  if (error instanceof DiskFullError) return true;
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  return code === "ENOSPC" ||
    (typeof message === "string" &&
      /no space left on device|database or disk is full/i.test(message));
}

export class BlobStore {
  #tempCounter = 0;
  /** Bumped by every commit: a deletion pass remembers where it began. */
  #generation = 0;
  /** Digest → the generation of its last commit, kept while a deletion pass may ask. */
  readonly #committedAt = new Map<string, number>();
  #deletionPasses = 0;
  /** Digest → when (performance.now()) its bytes were last stored over an existing copy. */
  readonly #restored = new Map<string, number>();
  /** Per digest: commit and remove never interleave. */
  readonly #locks = new KeyedLock();
  /** Walked from disk once at init, then kept up to date as blobs are added. */
  #usage = { bytes: 0, blobs: 0 };
  /** Prefix directories known to exist, so a commit does not mkdir every time. */
  readonly #directories = new Set<string>();

  constructor(readonly root: string, readonly tmpDir: string) {}

  /** Creates the directories and discards temp files a previous process left behind. */
  async init(): Promise<void> {
    await Deno.mkdir(this.root, { recursive: true, mode: DIRECTORY_MODE });
    await Deno.remove(this.tmpDir, { recursive: true }).catch(() => {});
    await Deno.mkdir(this.tmpDir, { recursive: true, mode: DIRECTORY_MODE });
    // Before any blob can be added, so the running total never counts one twice.
    this.#usage = await this.#walk();
  }

  pathOf(sha256: string): string {
    if (!HEX64.test(sha256)) throw new Error(`not a sha256 digest: ${sha256}`);
    return join(this.root, "sha256", sha256.slice(0, 2), sha256);
  }

  async size(sha256: string): Promise<number | undefined> {
    try {
      return (await Deno.stat(this.pathOf(sha256))).size;
    } catch {
      return undefined;
    }
  }

  /** A fresh, unique temp path; the caller writes it and then commits or discards it. */
  tempPath(label: string): string {
    const safe = label.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 60);
    return join(this.tmpDir, `${Date.now()}-${Deno.pid}-${++this.#tempCounter}-${safe}`);
  }

  /** Moves a verified temp file into place under its digest. */
  commit(tempPath: string, sha256: string): Promise<void> {
    const target = this.pathOf(sha256);
    return this.#locked(sha256, async () => {
      const existed = (await this.size(sha256)) !== undefined;
      const { size, mode } = await Deno.stat(tempPath);
      // Whoever wrote the temp file (a download), the blob is the owner's only.
      // (Best effort: a file system without modes still stores the blob, in the 0700 dir.)
      if (mode !== null && (mode & 0o777) !== FILE_MODE) {
        await Deno.chmod(tempPath, FILE_MODE).catch(() => {});
      }
      const directory = join(target, "..");
      if (!this.#directories.has(directory)) {
        await Deno.mkdir(directory, { recursive: true, mode: DIRECTORY_MODE });
        this.#directories.add(directory);
      }
      const generation = ++this.#generation;
      if (this.#deletionPasses > 0) this.#committedAt.set(sha256, generation);
      if (existed) this.#markRestored(sha256);
      await Deno.rename(tempPath, target);
      if (!existed) {
        this.#usage.bytes += size;
        this.#usage.blobs++;
      }
    });
  }

  /** The generation a deletion pass starts from; end it with endDeletionPass(). */
  beginDeletionPass(): number {
    this.#deletionPasses++;
    return this.#generation;
  }

  endDeletionPass(): void {
    if (--this.#deletionPasses === 0) this.#committedAt.clear();
  }

  /** Bumped on every commit (see RemoveGuard). */
  get generation(): number {
    return this.#generation;
  }

  #markRestored(sha256: string): void {
    const now = performance.now();
    this.#restored.delete(sha256);
    this.#restored.set(sha256, now);
    for (const [digest, at] of this.#restored) {
      if (at > now - RESTORED_HOLD_MS) break;
      this.#restored.delete(digest);
    }
  }

  /** Runs `fn` while no commit or removal of the same digest runs. */
  #locked<T>(sha256: string, fn: () => Promise<T>): Promise<T> {
    return this.#locks.run(sha256, fn);
  }

  /** Bytes free for new files on the store's filesystem; undefined when it cannot tell. */
  async freeBytes(): Promise<number | undefined> {
    try {
      const { bavail, bsize } = await statfs(this.tmpDir);
      return bavail * bsize;
    } catch {
      return undefined;
    }
  }

  async discard(tempPath: string): Promise<void> {
    await Deno.remove(tempPath).catch(() => {});
  }

  /**
   * Stores in-memory bytes (metadata, an upload); returns their digest. `durable` flushes them to
   * disk before the rename, for data that exists nowhere else (published packages).
   */
  async putBytes(bytes: Uint8Array, options: { durable?: boolean } = {}): Promise<string> {
    const digest = sha256Hex(bytes);
    const temp = this.tempPath("doc");
    try {
      if (options.durable) {
        using file = await Deno.open(temp, { write: true, createNew: true, mode: FILE_MODE });
        let written = 0;
        while (written < bytes.byteLength) written += await file.write(bytes.subarray(written));
        await file.syncData();
      } else {
        await Deno.writeFile(temp, bytes, { mode: FILE_MODE });
      }
      await this.commit(temp, digest);
    } catch (error) {
      await this.discard(temp);
      throw error;
    }
    return digest;
  }

  async readBytes(sha256: string): Promise<Uint8Array | undefined> {
    try {
      return await Deno.readFile(this.pathOf(sha256));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    }
  }

  /**
   * Deletes a blob; false when it was not there, or when `guard` refuses: the same bytes were
   * stored again since `guard.since` or within RESTORED_HOLD_MS (a record for them may be on its
   * way), or the file is not older than `guard.modifiedBefore`. Decided under the digest's lock,
   * which commit() takes too. A reader that has the blob open keeps reading it.
   */
  remove(sha256: string, guard?: RemoveGuard): Promise<boolean> {
    const path = this.pathOf(sha256);
    return this.#locked(sha256, async () => {
      if (guard && this.#storedAgain(sha256, guard.since)) return false;
      let size: number;
      try {
        const info = await Deno.stat(path);
        if (
          guard?.modifiedBefore !== undefined &&
          (info.mtime?.getTime() ?? Infinity) > guard.modifiedBefore
        ) return false;
        size = info.size;
        await Deno.remove(path);
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) return false;
        throw error;
      }
      this.#usage.bytes -= size;
      this.#usage.blobs--;
      return true;
    });
  }

  #storedAgain(sha256: string, since: number): boolean {
    if ((this.#committedAt.get(sha256) ?? 0) > since) return true;
    const restored = this.#restored.get(sha256);
    return restored !== undefined && restored > performance.now() - RESTORED_HOLD_MS;
  }

  /** Bytes and count of the files in the temp dir now (downloads and renderings in progress). */
  async tempUsage(): Promise<{ bytes: number; files: number }> {
    let bytes = 0;
    let files = 0;
    try {
      for await (const entry of Deno.readDir(this.tmpDir)) {
        if (!entry.isFile) continue;
        const info = await Deno.stat(join(this.tmpDir, entry.name)).catch(() => undefined);
        if (!info) continue; // renamed into place meanwhile
        bytes += info.size;
        files++;
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    return { bytes, files };
  }

  /** Every blob on disk with its size and modification time (for garbage collection). */
  async *list(): AsyncGenerator<{ sha256: string; size: number; mtime: number }> {
    const base = join(this.root, "sha256");
    let dirs: Deno.DirEntry[];
    try {
      dirs = await Array.fromAsync(Deno.readDir(base));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return;
      throw error;
    }
    for (const dir of dirs) {
      if (!dir.isDirectory) continue;
      for await (const entry of Deno.readDir(join(base, dir.name))) {
        if (!entry.isFile || !HEX64.test(entry.name)) continue;
        const info = await Deno.stat(join(base, dir.name, entry.name)).catch(() => undefined);
        if (info) yield { sha256: entry.name, size: info.size, mtime: info.mtime?.getTime() ?? 0 };
      }
    }
  }

  /** Total bytes and count of blobs on disk. */
  usage(): { bytes: number; blobs: number } {
    return { ...this.#usage };
  }

  async #walk(): Promise<{ bytes: number; blobs: number }> {
    let bytes = 0;
    let blobs = 0;
    const base = join(this.root, "sha256");
    try {
      for await (const dir of Deno.readDir(base)) {
        if (!dir.isDirectory) continue;
        for await (const entry of Deno.readDir(join(base, dir.name))) {
          if (!entry.isFile) continue;
          bytes += (await Deno.stat(join(base, dir.name, entry.name))).size;
          blobs++;
        }
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    return { bytes, blobs };
  }
}
