// Content-addressed blobs on disk. Every blob is written to a temp file in the same filesystem,
// verified by the caller, then renamed into place: rename is atomic, so a crash at any moment
// leaves either no blob or a complete one, never a partial file under a blob name.
import { statfs } from "node:fs/promises";
import { join } from "node:path";
import { sha256Hex } from "./hashing.ts";

const HEX64 = /^[0-9a-f]{64}$/;

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
  /** Walked from disk once at init, then kept up to date as blobs are added. */
  #usage = { bytes: 0, blobs: 0 };
  /** Prefix directories known to exist, so a commit does not mkdir every time. */
  readonly #directories = new Set<string>();

  constructor(readonly root: string, readonly tmpDir: string) {}

  /** Creates the directories and discards temp files a previous process left behind. */
  async init(): Promise<void> {
    await Deno.mkdir(this.root, { recursive: true });
    await Deno.remove(this.tmpDir, { recursive: true }).catch(() => {});
    await Deno.mkdir(this.tmpDir, { recursive: true });
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
  async commit(tempPath: string, sha256: string): Promise<void> {
    const target = this.pathOf(sha256);
    const existed = (await this.size(sha256)) !== undefined;
    const { size } = await Deno.stat(tempPath);
    const directory = join(target, "..");
    if (!this.#directories.has(directory)) {
      await Deno.mkdir(directory, { recursive: true });
      this.#directories.add(directory);
    }
    await Deno.rename(tempPath, target);
    if (!existed) {
      this.#usage.bytes += size;
      this.#usage.blobs++;
    }
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
        using file = await Deno.open(temp, { write: true, createNew: true });
        let written = 0;
        while (written < bytes.byteLength) written += await file.write(bytes.subarray(written));
        await file.syncData();
      } else {
        await Deno.writeFile(temp, bytes);
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

  /** Deletes a blob; false when it was not there. A reader that has it open keeps reading it. */
  async remove(sha256: string): Promise<boolean> {
    const path = this.pathOf(sha256);
    let size: number;
    try {
      size = (await Deno.stat(path)).size;
      await Deno.remove(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return false;
      throw error;
    }
    this.#usage.bytes -= size;
    this.#usage.blobs--;
    return true;
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
