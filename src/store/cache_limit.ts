// The bounded cache: when the blob store grows past the configured size, the least recently used
// public package files (npm tarballs, PyPI files, .crate files) are evicted until it is back under
// 90% of the limit. Never evicted: files of private packages (they exist nowhere else) and
// metadata (small, and needed to serve anything). A file being served is safe too: a reader that
// has it open keeps reading it after the unlink (POSIX), and a request that finds the record gone
// downloads the file again. `gc` also removes orphan blobs that no record references any more
// (removed private versions, replaced documents).
//
// Last use is kept in memory on the hot path and written to KV every few seconds, like the
// counters; a file never touched since this process started is ordered by when it was stored.
import type { BlobStore } from "./blob_store.ts";
import type { Clock } from "./clock.ts";

/** Where each ecosystem keeps its cached public file records: [eco, kind, name, file]. */
export const PUBLIC_FILE_PREFIXES: Deno.KvKey[] = [
  ["npm", "tarball"],
  ["pypi", "file"],
  ["cargo", "crate"],
];

const HEX64 = /^[0-9a-f]{64}$/;
/** Blobs younger than this are never orphans: their record may be about to be written. */
const ORPHAN_MIN_AGE_MS = 10 * 60 * 1000;
const FLUSH_INTERVAL_MS = 5000;

export interface EvictionResult {
  evictedFiles: number;
  evictedBytes: number;
  orphanBlobs: number;
  orphanBytes: number;
}

interface PublicFile {
  key: Deno.KvKey;
  sha256: string;
  size: number;
  lastUsed: number;
}

export class CacheLimit {
  /** JSON of a record key → last use (ms). */
  readonly #recent = new Map<string, number>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #running: Promise<EvictionResult> | undefined;

  constructor(
    private readonly kv: Deno.Kv,
    private readonly blobs: BlobStore,
    /** Bytes; null means no limit. */
    readonly maxBytes: number | null,
    private readonly clock: Clock,
    /**
     * Files used more recently than this are not evicted: a client that found the record may be
     * about to open the file (one that has it open keeps reading it anyway).
     */
    private readonly graceMs = 60_000,
  ) {}

  start(): void {
    this.#timer = setInterval(() => void this.flush().catch(() => {}), FLUSH_INTERVAL_MS);
  }

  async close(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running?.catch(() => {});
    await this.flush();
  }

  /** A public file was served or stored. */
  touch(recordKey: Deno.KvKey): void {
    this.#recent.set(JSON.stringify(recordKey), this.clock.now());
  }

  /** After a new file entered the store: evict if the limit is passed (in the background). */
  afterStore(): void {
    if (this.maxBytes === null || this.blobs.usage().bytes <= this.maxBytes) return;
    void this.enforce().catch(() => {});
  }

  /** Evicts least recently used public files until the store is under 90% of the limit. */
  enforce(): Promise<EvictionResult> {
    return this.#running ??= this.#enforce(false).finally(() => this.#running = undefined);
  }

  /** `vm pkg gc`: orphan blobs out, then the limit enforced. */
  gc(): Promise<EvictionResult> {
    return this.#running ??= this.#enforce(true).finally(() => this.#running = undefined);
  }

  async flush(): Promise<void> {
    if (this.#recent.size === 0) return;
    const entries = [...this.#recent];
    this.#recent.clear();
    for (let i = 0; i < entries.length; i += 500) {
      const op = this.kv.atomic();
      for (const [key, time] of entries.slice(i, i + 500)) op.set(["access", key], time);
      await op.commit();
    }
  }

  async #enforce(sweepOrphans: boolean): Promise<EvictionResult> {
    const result = { evictedFiles: 0, evictedBytes: 0, orphanBlobs: 0, orphanBytes: 0 };
    await this.flush();
    const referenced = await this.#referencedDigests();
    if (sweepOrphans) await this.#sweepOrphans(referenced.all, result);
    if (this.maxBytes === null) return result;
    const target = Math.floor(this.maxBytes * 0.9);
    if (this.blobs.usage().bytes <= this.maxBytes) return result;
    const files = await this.#publicFiles();
    files.sort((a, b) => a.lastUsed - b.lastUsed);
    // One blob can back several records (the same bytes under two names).
    const records = new Map<string, number>();
    for (const file of files) records.set(file.sha256, (records.get(file.sha256) ?? 0) + 1);
    for (const file of files) {
      if (this.blobs.usage().bytes <= target) break;
      if (referenced.private.has(file.sha256)) continue;
      if (file.lastUsed > this.clock.now() - this.graceMs) continue;
      // The record goes first: a crash between the two leaves an orphan blob, never a record
      // that points at nothing.
      await this.kv.delete(file.key);
      await this.kv.delete(["access", JSON.stringify(file.key)]);
      result.evictedFiles++;
      const left = records.get(file.sha256)! - 1;
      records.set(file.sha256, left);
      if (left === 0 && await this.blobs.remove(file.sha256)) result.evictedBytes += file.size;
    }
    return result;
  }

  async #publicFiles(): Promise<PublicFile[]> {
    const files: PublicFile[] = [];
    for (const prefix of PUBLIC_FILE_PREFIXES) {
      for await (
        const entry of this.kv.list<{ sha256: string; size: number; storedAt?: number }>(
          { prefix },
        )
      ) {
        const keyText = JSON.stringify(entry.key);
        const used = this.#recent.get(keyText) ??
          (await this.kv.get<number>(["access", keyText])).value ?? entry.value.storedAt ?? 0;
        files.push({
          key: entry.key,
          sha256: entry.value.sha256,
          size: entry.value.size,
          lastUsed: used,
        });
      }
    }
    return files;
  }

  /** Every digest any KV record mentions; the private ones apart (they are never evicted). */
  async #referencedDigests(): Promise<{ all: Set<string>; private: Set<string> }> {
    const all = new Set<string>();
    const privateDigests = new Set<string>();
    for await (const entry of this.kv.list({ prefix: [] })) {
      const isPrivate = entry.key.some((part) =>
        typeof part === "string" && part.startsWith("private")
      );
      collectDigests(entry.value, (digest) => {
        all.add(digest);
        if (isPrivate) privateDigests.add(digest);
      });
    }
    return { all, private: privateDigests };
  }

  async #sweepOrphans(referenced: Set<string>, result: EvictionResult): Promise<void> {
    // Blob mtimes are the file system's time, not the registry clock's.
    const cutoff = Date.now() - ORPHAN_MIN_AGE_MS;
    for await (const blob of this.blobs.list()) {
      if (referenced.has(blob.sha256) || blob.mtime > cutoff) continue;
      if (await this.blobs.remove(blob.sha256)) {
        result.orphanBlobs++;
        result.orphanBytes += blob.size;
      }
    }
  }
}

function collectDigests(value: unknown, found: (digest: string) => void): void {
  if (typeof value === "string") {
    if (HEX64.test(value)) found(value);
  } else if (Array.isArray(value)) {
    for (const item of value) collectDigests(item, found);
  } else if (value && typeof value === "object") {
    for (const item of Object.values(value)) collectDigests(item, found);
  }
}
