// The bounded cache: everything the registry keeps on disk for its cache counts against
// max_cache_size: blobs (files and metadata), rendered documents and temp files of downloads in
// progress. When a store takes it past the limit, a pass removes, in this order, until the cache
// is under 90% of the limit:
//   1. renderings of documents no record refers to any more, or for bases no longer kept;
//   2. the least recently used public package files (npm tarballs, PyPI files, .crate files:
//      each ecosystem says where their records are, see CacheAreas);
//   3. blobs no record refers to (older than 10 minutes: their record may be on its way);
//   4. the oldest renderings (they are made again when asked for).
// Never evicted: files of private packages (they exist nowhere else) and metadata blobs (small,
// and needed to serve anything). `gc` removes 1 and 3 whatever the size, then does the same.
//
// How recently a file was used decides only the order, never whether it may go: a file that was
// stored or served a second ago is evicted like any other when it is the least recently used.
// Spared are only the files a request is about to open (between reading the record and opening
// the blob, see `reading`) and downloads whose clients are still following them; when a pass had
// to spare one and the store is still over the limit, the pass runs again as soon as it is
// released. A client that has a file open keeps reading it after the unlink (POSIX), and a request
// that finds the record gone downloads the file again.
//
// Deletion never races a writer: record deletions are checked against the versionstamp the pass
// read, and blobs are unlinked through BlobStore.remove with a guard, under the same per-blob
// lock as the rename that stores them, refused when the same bytes were stored again meanwhile
// (their new record may not be in the pass's snapshot).
//
// Last use is kept in memory on the hot path and written to KV every few seconds, like the
// counters; a file never touched since this process started is ordered by when it was stored.
import type { BlobStore } from "./blob_store.ts";
import type { Clock } from "./clock.ts";

/**
 * Where the records the cache limit works on are: the store knows no ecosystem, the server tells
 * it (from each ecosystem's descriptor).
 */
export interface CacheAreas {
  /** KV prefixes of cached public file records: `[...prefix, name, file]` → { sha256, size }. */
  publicFiles: readonly Deno.KvKey[];
  /** First key parts of private packages' records (PrivatePackages' layout: [owner, "private…"]). */
  privateOwners: readonly string[];
}

const HEX64 = /^[0-9a-f]{64}$/;
/** Blobs younger than this are never orphans: their record may be about to be written. */
const ORPHAN_MIN_AGE_MS = 10 * 60 * 1000;
const FLUSH_INTERVAL_MS = 5000;

/** What counts against max_cache_size, as /-/status reports it. */
export interface CacheUsage {
  /** All of it: blobs, renderings and temp files. */
  bytes: number;
  blobs: number;
  blobBytes: number;
  renderedFiles: number;
  renderedBytes: number;
  /** Downloads (and renderings) being written. */
  tmpFiles: number;
  tmpBytes: number;
}

export interface EvictionResult {
  evictedFiles: number;
  evictedBytes: number;
  orphanBlobs: number;
  orphanBytes: number;
  /** Renderings removed (stale ones, or the oldest when files were not enough). */
  renderedFiles: number;
  renderedBytes: number;
}

/** The part of RenderedDocuments a pass uses. */
export interface Renderings {
  usage(): { bytes: number; files: number };
  prune(isReferenced: (digest: string) => boolean): Promise<{ files: number; bytes: number }>;
  evictOldest(bytes: number): Promise<{ files: number; bytes: number }>;
}

export interface CacheLimitOptions {
  rendered?: Renderings;
  /** A pass or a flush failed (logged by the server). */
  onError?: (message: string) => void;
}

interface PublicFile {
  key: Deno.KvKey;
  keyText: string;
  versionstamp: string;
  sha256: string;
  size: number;
  lastUsed: number;
}

interface Snapshot {
  /** Digest → how many records mention it. */
  references: Map<string, number>;
  /** Digests a private record mentions (never evicted). */
  privateDigests: Set<string>;
  files: PublicFile[];
}

type PassKind = "limit" | "gc" | "tidy";

export class CacheLimit {
  /** JSON of a record key → last use (ms). */
  readonly #recent = new Map<string, number>();
  /** JSON of a record key → requests about to open (or still following) its file. */
  readonly #reading = new Map<string, number>();
  #timer: ReturnType<typeof setInterval> | undefined;
  /** Passes run one at a time, in order. */
  #chain: Promise<unknown> = Promise.resolve();
  /** A background pass is queued and has not started yet (more stores need no second one). */
  #queued = false;
  /** The last pass left the store over the limit because it had to spare files being read. */
  #deferred = false;

  constructor(
    private readonly kv: Deno.Kv,
    private readonly blobs: BlobStore,
    /** Bytes; null means no limit. */
    readonly maxBytes: number | null,
    private readonly clock: Clock,
    private readonly areas: CacheAreas,
    private readonly options: CacheLimitOptions = {},
  ) {}

  start(): void {
    this.#timer = setInterval(() => {
      void this.flush().catch((error) => this.#report("writing last-use times", error));
      if (this.#deferred) this.#schedule("limit");
    }, FLUSH_INTERVAL_MS);
  }

  async close(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#chain.catch(() => {});
    await this.flush();
  }

  /** A public file was served or stored. */
  touch(recordKey: Deno.KvKey): void {
    this.#recent.set(JSON.stringify(recordKey), this.clock.now());
  }

  /**
   * A request is about to open the file of `recordKey` (or follows its download): the file is not
   * evicted until the returned function is called (once; later calls do nothing).
   */
  reading(recordKey: Deno.KvKey): () => void {
    const key = JSON.stringify(recordKey);
    this.#reading.set(key, (this.#reading.get(key) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = this.#reading.get(key)! - 1;
      if (left > 0) {
        this.#reading.set(key, left);
        return;
      }
      this.#reading.delete(key);
      if (this.#deferred) this.#schedule("limit");
    };
  }

  /** After something entered the store: a pass in the background if the limit is passed. */
  afterStore(): void {
    if (this.maxBytes === null) return;
    const rendered = this.options.rendered?.usage().bytes ?? 0;
    if (this.blobs.usage().bytes + rendered <= this.maxBytes) return;
    this.#schedule("limit");
  }

  /**
   * At start-up: renderings of replaced documents and for bases no longer kept go, and a limit
   * lowered since the last run applies (in the background).
   */
  afterStart(): void {
    this.#schedule("tidy");
  }

  /** Removes garbage and evicts until the store is under 90% of the limit, if it is over it. */
  enforce(): Promise<EvictionResult> {
    return this.#serial(() => this.#pass("limit"));
  }

  /** `vm pkg gc`: orphan blobs and stale renderings out, then the limit enforced. */
  gc(): Promise<EvictionResult> {
    return this.#serial(() => this.#pass("gc"));
  }

  /** What counts against the limit now. */
  async usage(): Promise<CacheUsage> {
    const blobs = this.blobs.usage();
    const rendered = this.options.rendered?.usage() ?? { bytes: 0, files: 0 };
    const tmp = await this.blobs.tempUsage();
    return {
      bytes: blobs.bytes + rendered.bytes + tmp.bytes,
      blobs: blobs.blobs,
      blobBytes: blobs.bytes,
      renderedFiles: rendered.files,
      renderedBytes: rendered.bytes,
      tmpFiles: tmp.files,
      tmpBytes: tmp.bytes,
    };
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

  #schedule(kind: PassKind): void {
    if (this.#queued) return;
    this.#queued = true;
    void this.#serial(() => {
      this.#queued = false;
      return this.#pass(kind);
    }).catch((error) => this.#report("keeping the cache under its limit", error));
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#chain.catch(() => {}).then(fn);
    this.#chain = next;
    return next;
  }

  #report(what: string, error: unknown): void {
    const message = (error as Error)?.stack ?? String(error);
    if (this.options.onError) this.options.onError(`${what} failed: ${message}`);
    else console.error(`vm pkg: ${what} failed: ${message}`);
  }

  async #pass(kind: PassKind): Promise<EvictionResult> {
    const result: EvictionResult = {
      evictedFiles: 0,
      evictedBytes: 0,
      orphanBlobs: 0,
      orphanBytes: 0,
      renderedFiles: 0,
      renderedBytes: 0,
    };
    this.#deferred = false;
    await this.flush();
    let bytes = (await this.usage()).bytes;
    const over = () => this.maxBytes !== null && bytes > this.maxBytes;
    if (kind === "limit" && !over()) return result;
    // Before the snapshot: a blob stored after this point is never deleted by this pass.
    const since = this.blobs.beginDeletionPass();
    try {
      const snapshot = await this.#snapshot();
      const pruned = await this.options.rendered?.prune((digest) =>
        snapshot.references.has(digest)
      );
      if (pruned) {
        result.renderedFiles += pruned.files;
        result.renderedBytes += pruned.bytes;
      }
      // gc sweeps first; a pass for the limit only when evicting files was not enough (the sweep
      // stats every blob).
      if (kind === "gc") await this.#sweepOrphans(snapshot, since, result);
      bytes = (await this.usage()).bytes;
      if (this.maxBytes === null || !over()) return result;

      const target = Math.floor(this.maxBytes * 0.9);
      const spared = await this.#evictFiles(snapshot, since, target, result);
      bytes = (await this.usage()).bytes;
      if (bytes > target && kind !== "gc") {
        await this.#sweepOrphans(snapshot, since, result);
        bytes = (await this.usage()).bytes;
      }
      if (bytes > target && this.options.rendered) {
        const removed = await this.options.rendered.evictOldest(bytes - target);
        result.renderedFiles += removed.files;
        result.renderedBytes += removed.bytes;
        bytes -= removed.bytes;
      }
      this.#deferred = spared && over();
      return result;
    } finally {
      this.blobs.endDeletionPass();
    }
  }

  /**
   * Evicts least recently used public files until the store is at `target`; true when a file
   * being read had to be spared.
   */
  async #evictFiles(
    snapshot: Snapshot,
    since: number,
    target: number,
    result: EvictionResult,
  ): Promise<boolean> {
    let bytes = (await this.usage()).bytes;
    let spared = false;
    snapshot.files.sort((a, b) => a.lastUsed - b.lastUsed);
    for (const file of snapshot.files) {
      if (bytes <= target) break;
      if (snapshot.privateDigests.has(file.sha256)) continue;
      if (this.#reading.has(file.keyText)) {
        spared = true;
        continue;
      }
      // The record goes first, and only as the pass read it (not one a new download wrote
      // since): a crash between the two leaves an orphan blob, never a record that points at
      // nothing.
      const deleted = await this.kv.atomic()
        .check({ key: file.key, versionstamp: file.versionstamp })
        .delete(file.key)
        .delete(["access", file.keyText])
        .commit();
      if (!deleted.ok) continue;
      this.#recent.delete(file.keyText);
      result.evictedFiles++;
      const left = snapshot.references.get(file.sha256)! - 1;
      snapshot.references.set(file.sha256, left);
      if (left > 0) continue;
      snapshot.references.delete(file.sha256);
      if (await this.blobs.remove(file.sha256, { since })) {
        result.evictedBytes += file.size;
        bytes -= file.size;
      }
    }
    return spared;
  }

  /** One read of every record: what refers to which blob, and the public files with last use. */
  async #snapshot(): Promise<Snapshot> {
    const references = new Map<string, number>();
    const privateDigests = new Set<string>();
    const access = new Map<string, number>();
    const files: PublicFile[] = [];
    for await (const entry of this.kv.list({ prefix: [] })) {
      const [first] = entry.key;
      if (first === "access") {
        if (typeof entry.key[1] === "string" && typeof entry.value === "number") {
          access.set(entry.key[1], entry.value);
        }
        continue;
      }
      // PrivatePackages' layout: [owner, "private" | "private-version" | "private-file", …]. Only
      // the second part says so: a public package or module named "private-…" is still public.
      const isPrivate = this.areas.privateOwners.includes(first as string) &&
        typeof entry.key[1] === "string" && entry.key[1].startsWith("private");
      const digests = new Set<string>();
      collectDigests(entry.value, (digest) => digests.add(digest));
      for (const digest of digests) {
        references.set(digest, (references.get(digest) ?? 0) + 1);
        if (isPrivate) privateDigests.add(digest);
      }
      const isPublicFile = this.areas.publicFiles.some((prefix) => startsWith(entry.key, prefix));
      const value = entry.value as { sha256?: unknown; size?: unknown; storedAt?: unknown };
      if (isPublicFile && typeof value?.sha256 === "string" && HEX64.test(value.sha256)) {
        files.push({
          key: entry.key,
          keyText: JSON.stringify(entry.key),
          versionstamp: entry.versionstamp,
          sha256: value.sha256,
          size: typeof value.size === "number" ? value.size : 0,
          lastUsed: typeof value.storedAt === "number" ? value.storedAt : 0,
        });
      }
    }
    for (const file of files) {
      file.lastUsed = this.#recent.get(file.keyText) ?? access.get(file.keyText) ?? file.lastUsed;
    }
    return { references, privateDigests, files };
  }

  async #sweepOrphans(snapshot: Snapshot, since: number, result: EvictionResult): Promise<void> {
    // Blob mtimes are the file system's time, not the registry clock's.
    const modifiedBefore = Date.now() - ORPHAN_MIN_AGE_MS;
    for await (const blob of this.blobs.list()) {
      if (snapshot.references.has(blob.sha256) || blob.mtime > modifiedBefore) continue;
      // Checked again under the blob's lock: stored again since, it is not an orphan.
      if (await this.blobs.remove(blob.sha256, { since, modifiedBefore })) {
        result.orphanBlobs++;
        result.orphanBytes += blob.size;
      }
    }
  }
}

function startsWith(key: Deno.KvKey, prefix: Deno.KvKey): boolean {
  return prefix.length <= key.length && prefix.every((part, index) => key[index] === part);
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

/**
 * The store's own consistency check: every file record (public files, private files and
 * versions, private documents) whose blob is missing. Empty on a healthy store.
 */
export async function recordsWithoutBlob(
  kv: Deno.Kv,
  blobs: BlobStore,
  areas: CacheAreas,
): Promise<{ key: Deno.KvKey; sha256: string }[]> {
  const missing: { key: Deno.KvKey; sha256: string }[] = [];
  const check = async (key: Deno.KvKey, digest: unknown) => {
    if (typeof digest !== "string" || !HEX64.test(digest)) return;
    if (await blobs.size(digest) === undefined) missing.push({ key, sha256: digest });
  };
  for (const prefix of areas.publicFiles) {
    for await (const entry of kv.list<{ sha256?: string }>({ prefix })) {
      await check(entry.key, entry.value?.sha256);
    }
  }
  for (const eco of areas.privateOwners) {
    for await (const entry of kv.list<{ sha256?: string }>({ prefix: [eco, "private-file"] })) {
      await check(entry.key, entry.value?.sha256);
    }
    for await (
      const entry of kv.list<{ metaDigest?: string; files?: { sha256?: string }[] }>({
        prefix: [eco, "private-version"],
      })
    ) {
      await check(entry.key, entry.value?.metaDigest);
      for (const file of entry.value?.files ?? []) await check(entry.key, file.sha256);
    }
    for await (
      const entry of kv.list<{ documents?: Record<string, string> }>({ prefix: [eco, "private"] })
    ) {
      for (const digest of Object.values(entry.value?.documents ?? {})) {
        await check(entry.key, digest);
      }
    }
  }
  return missing;
}
