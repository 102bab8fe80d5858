// Metadata documents are stored once with a placeholder where this server's base URL belongs,
// because the URL a client must use depends on how it reached us (127.0.0.1 on the host,
// host.docker.internal in a VM). The first request through one of this server's own names
// renders the document for that base, plain and gzip-compressed, onto disk; every later request
// streams those bytes without parsing or re-serializing anything.
//
// Only a bounded set of bases is kept on disk (`storedBases`: the server's listen addresses,
// localhost, host.docker.internal, the bridge, configured names). A request through any other
// Host is answered with the same document rendered for it alone, streamed from the template and
// never stored: a client that sends a thousand Hosts costs CPU, not a thousand copies on disk.
// A document without a placeholder (base "") is its stored blob: served as is, only its gzip
// copy is made.
//
// Renderings are derived data: `prune` removes those of documents no record refers to any more
// and those for bases no longer kept (renderings left by older versions, or another port), and
// `evictOldest` makes room under max_cache_size; the next request renders again. Their bytes
// count in the cache's usage.
import { KeyedLock } from "./keyed_lock.ts";
import { concatBytes } from "../host/bytes.ts";
import { join } from "node:path";
import { type BlobStore, DIRECTORY_MODE, FILE_MODE } from "./blob_store.ts";
import { sha256Hex } from "./hashing.ts";
import { Coalescer } from "./coalescer.ts";
import { promisify } from "node:util";
import { gzip as gzipCallback } from "node:zlib";

const gzipAsync = promisify(gzipCallback);

export const BASE_URL_PLACEHOLDER = "@@vm-pkg-base-url@@";
const PLACEHOLDER_BYTES = new TextEncoder().encode(BASE_URL_PLACEHOLDER);
/** Rendered documents up to this size are kept in memory once rendered or first read… */
const HOT_MAX_DOCUMENT = 256 * 1024;
/** …up to this much in total. */
const HOT_MAX_BYTES = 32 * 1024 * 1024;
/** About 64 MB of recently stored templates are kept in memory. */
const RECENT_MAX_CHARS = 32 * 1024 * 1024;
/** A document rendered for one request only is made in memory up to this size, else streamed. */
const TRANSIENT_IN_MEMORY = 256 * 1024;
const STREAM_CHUNK = 64 * 1024;
/** `<digest>-<16 hex of the base's sha256>[.gz]` */
const RENDERING_NAME = /^([0-9a-f]{64})-([0-9a-f]{16})(\.gz)?$/;

export interface RenderedDocument {
  /** The rendering on disk; "" for one made for this request only. */
  path: string;
  /**
   * The bytes, when they are in memory: a rendering this request made is served from memory
   * while the file is written in the background, so a cold request never waits for the disk.
   */
  bytes?: Uint8Array;
  /**
   * A rendering for this request only, too big to make in memory: streamed from the template;
   * `onBytes` counts what is sent.
   */
  stream?: (onBytes: (n: number) => void) => ReadableStream<Uint8Array>;
  /**
   * A weak validator shared by the plain and gzip copies: they are the same document, and
   * If-None-Match uses weak comparison, so a client that cached either copy gets its 304.
   */
  etag: string;
  gzip: boolean;
}

export interface RenderedDocumentsOptions {
  /**
   * The base URLs whose renderings are kept on disk ("" always is); every other base is rendered
   * per request. Absent: every base is kept.
   */
  storedBases?: () => ReadonlySet<string>;
  /** A rendering was written to disk (the store grew). */
  onStored?: () => void;
  /** A rendering could not be written or removed (it is made again when next asked for). */
  onError?: (message: string) => void;
}

export class RenderedDocuments {
  readonly #coalescer = new Coalescer<RenderedDocument>();
  readonly #background = new Set<Promise<unknown>>();
  /** Templates just stored, so their first rendering need not read them back from disk. */
  readonly #recent = new Map<string, string>();
  #recentChars = 0;
  /** Rendered documents whose file is still being written, served from memory meanwhile. */
  readonly #writing = new Map<string, RenderedDocument>();
  /**
   * Small rendered documents kept in memory, least recently used first out: the hot metadata
   * (abbreviated packuments, project pages, index files) is then served without a file open and
   * stat per request, which is most of a cache hit's cost under load.
   */
  readonly #hot = new Map<string, RenderedDocument>();
  #hotBytes = 0;
  /** Bytes and files under `dir`, walked at init and kept up to date. */
  #usage = { bytes: 0, files: 0 };
  /** Per path: a write and a removal of one rendering never interleave (usage stays exact). */
  readonly #locks = new KeyedLock();

  constructor(
    private readonly dir: string,
    private readonly blobs: BlobStore,
    private readonly options: RenderedDocumentsOptions = {},
  ) {}

  async init(): Promise<void> {
    await Deno.mkdir(this.dir, { recursive: true, mode: DIRECTORY_MODE });
    let bytes = 0;
    let files = 0;
    for await (const file of this.#files()) {
      bytes += file.size;
      files++;
    }
    this.#usage = { bytes, files };
  }

  /** Bytes and count of the renderings on disk. */
  usage(): { bytes: number; files: number } {
    return { ...this.#usage };
  }

  /**
   * The document `digest` with its placeholder replaced by `baseUrl`. The first request renders
   * the plain copy; a gzip copy (fast level-1 zlib) is then made in the background and served to
   * every later client that accepts gzip. A base that is not kept gets a rendering of its own,
   * plain, never stored.
   */
  async get(digest: string, baseUrl: string, gzip: boolean): Promise<RenderedDocument> {
    if (!this.#keeps(baseUrl)) return await this.#transient(digest, baseUrl);
    if (gzip) {
      const compressed = await this.#existing(digest, baseUrl, true);
      if (compressed) return compressed;
    }
    const plain = await this.#existing(digest, baseUrl, false) ??
      await this.#renderOnce(digest, baseUrl, false);
    if (gzip) this.#inBackground(this.#renderOnce(digest, baseUrl, true));
    return plain;
  }

  /** Keeps a just-stored template in memory for its first uses (bounded in total size). */
  remember(digest: string, template: string): void {
    if (this.#recent.has(digest) || template.length > RECENT_MAX_CHARS) return;
    this.#recent.set(digest, template);
    this.#recentChars += template.length;
    for (const [oldest, text] of this.#recent) {
      if (this.#recentChars <= RECENT_MAX_CHARS) break;
      this.#recent.delete(oldest);
      this.#recentChars -= text.length;
    }
  }

  /** Resolves when no background rendering is running (graceful shutdown, tests). */
  async idle(): Promise<void> {
    while (this.#background.size > 0) await Promise.allSettled([...this.#background]);
  }

  /**
   * Removes the renderings of documents `isReferenced` no longer knows and those for bases that
   * are not kept (any more). Returns what it removed.
   */
  async prune(
    isReferenced: (digest: string) => boolean,
  ): Promise<{ files: number; bytes: number }> {
    const kept = this.#keptBaseHashes();
    const removed = { files: 0, bytes: 0 };
    for await (const file of this.#files()) {
      const served = isReferenced(file.digest) &&
        (kept === undefined || kept.has(file.baseHash)) &&
        // The plain copy of a document without a placeholder is its blob (older versions copied).
        (file.gzip || file.baseHash !== NO_BASE_HASH);
      if (served) continue;
      const bytes = await this.#remove(file.path);
      if (bytes === undefined) continue;
      removed.files++;
      removed.bytes += bytes;
    }
    return removed;
  }

  /** Removes the oldest renderings until `bytes` are freed (they are made again when asked for). */
  async evictOldest(bytes: number): Promise<{ files: number; bytes: number }> {
    const removed = { files: 0, bytes: 0 };
    if (bytes <= 0) return removed;
    const files = await Array.fromAsync(this.#files());
    files.sort((a, b) => a.mtime - b.mtime);
    for (const file of files) {
      if (removed.bytes >= bytes) break;
      const freed = await this.#remove(file.path);
      if (freed === undefined) continue;
      removed.files++;
      removed.bytes += freed;
    }
    return removed;
  }

  #keeps(baseUrl: string): boolean {
    return baseUrl === "" || (this.options.storedBases?.().has(baseUrl) ?? true);
  }

  #keptBaseHashes(): Set<string> | undefined {
    const bases = this.options.storedBases?.();
    if (!bases) return undefined;
    return new Set(["", ...bases].map(baseHash));
  }

  #location(digest: string, baseUrl: string, gzip: boolean) {
    const base = baseHash(baseUrl);
    return {
      path: join(this.dir, digest.slice(0, 2), `${digest}-${base}${gzip ? ".gz" : ""}`),
      etag: `W/"${digest.slice(0, 32)}-${base}"`,
    };
  }

  async #existing(
    digest: string,
    baseUrl: string,
    gzip: boolean,
  ): Promise<RenderedDocument | undefined> {
    const { etag, ...location } = this.#location(digest, baseUrl, gzip);
    // Without a placeholder the plain document is the stored blob itself: no copy is made.
    const path = baseUrl === "" && !gzip ? this.blobs.pathOf(digest) : location.path;
    const writing = this.#writing.get(path);
    if (writing) return writing;
    const hot = this.#hot.get(path);
    if (hot) {
      this.#hot.delete(path);
      this.#hot.set(path, hot);
      return hot;
    }
    let size: number;
    try {
      size = (await Deno.stat(path)).size;
    } catch {
      if (path !== location.path) {
        throw new Error(`metadata blob ${digest} is missing from the store`);
      }
      return undefined;
    }
    if (size > HOT_MAX_DOCUMENT) return { path, etag, gzip };
    const bytes = await Deno.readFile(path).catch(() => undefined);
    if (!bytes) return undefined;
    const document = { path, etag, gzip, bytes };
    this.#keepHot(document);
    return document;
  }

  #keepHot(document: RenderedDocument): void {
    if (!document.bytes || document.bytes.byteLength > HOT_MAX_DOCUMENT) return;
    if (this.#hot.has(document.path)) return;
    this.#hot.set(document.path, document);
    this.#hotBytes += document.bytes.byteLength;
    for (const [path, oldest] of this.#hot) {
      if (this.#hotBytes <= HOT_MAX_BYTES) break;
      this.#forgetHot(path, oldest);
    }
  }

  #forgetHot(path: string, document = this.#hot.get(path)): void {
    if (!document) return;
    this.#hot.delete(path);
    this.#hotBytes -= document.bytes!.byteLength;
  }

  #renderOnce(digest: string, baseUrl: string, gzip: boolean): Promise<RenderedDocument> {
    const { path, etag } = this.#location(digest, baseUrl, gzip);
    const writing = this.#writing.get(path);
    if (writing) return Promise.resolve(writing);
    return this.#coalescer.run(path, () => this.#render(digest, baseUrl, gzip, path, etag));
  }

  /** The stored template of a document, from memory when it was just stored. */
  async template(digest: string): Promise<string> {
    const recent = this.#recent.get(digest);
    if (recent !== undefined) return recent;
    const bytes = await this.blobs.readBytes(digest);
    if (!bytes) throw new Error(`metadata blob ${digest} is missing from the store`);
    return new TextDecoder().decode(bytes);
  }

  /** The document rendered for a base that is not kept: for this request only. */
  async #transient(digest: string, baseUrl: string): Promise<RenderedDocument> {
    const { etag } = this.#location(digest, baseUrl, false);
    const recent = this.#recent.get(digest);
    const size = recent?.length ?? await this.blobs.size(digest);
    if (size === undefined) throw new Error(`metadata blob ${digest} is missing from the store`);
    if (size <= TRANSIENT_IN_MEMORY) {
      const text = (await this.template(digest)).replaceAll(BASE_URL_PLACEHOLDER, baseUrl);
      return { path: "", bytes: new TextEncoder().encode(text), etag, gzip: false };
    }
    const path = this.blobs.pathOf(digest);
    const replacement = new TextEncoder().encode(baseUrl);
    return {
      path: "",
      stream: (onBytes) => replacingStream(path, replacement, onBytes),
      etag,
      gzip: false,
    };
  }

  #inBackground(task: Promise<unknown>): void {
    const tracked = task.catch((error) => this.options.onError?.(`${error?.message ?? error}`))
      .finally(() => this.#background.delete(tracked));
    this.#background.add(tracked);
  }

  async #render(
    digest: string,
    baseUrl: string,
    gzip: boolean,
    path: string,
    etag: string,
  ): Promise<RenderedDocument> {
    const text = (await this.template(digest)).replaceAll(BASE_URL_PLACEHOLDER, baseUrl);
    let bytes: Uint8Array = new TextEncoder().encode(text);
    if (gzip) bytes = await gzipAsync(bytes, { level: 1 });
    const rendered: RenderedDocument = { path, bytes, etag, gzip };
    this.#writing.set(path, rendered);
    this.#inBackground(
      this.#write(path, bytes).then(() => this.#keepHot(rendered)).finally(() =>
        this.#writing.delete(path)
      ),
    );
    return rendered;
  }

  /** Temp file and rename: a crash leaves no half-written rendering under its final name. */
  async #write(path: string, bytes: Uint8Array): Promise<void> {
    await this.#locked(path, async () => {
      const temp = this.blobs.tempPath("render");
      try {
        await Deno.mkdir(join(path, ".."), { recursive: true, mode: DIRECTORY_MODE });
        await Deno.writeFile(temp, bytes, { mode: FILE_MODE });
        const previous = await Deno.stat(path).then((info) => info.size, () => undefined);
        await Deno.rename(temp, path);
        this.#usage.bytes += bytes.byteLength - (previous ?? 0);
        if (previous === undefined) this.#usage.files++;
      } catch (error) {
        await this.blobs.discard(temp);
        throw new Error(`a rendered document could not be written: ${(error as Error).message}`);
      }
    });
    this.options.onStored?.();
  }

  /** Removes one rendering; its size, or undefined when it was not there. */
  #remove(path: string): Promise<number | undefined> {
    return this.#locked(path, async () => {
      this.#forgetHot(path);
      let size: number;
      try {
        size = (await Deno.stat(path)).size;
        await Deno.remove(path);
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) return undefined;
        this.options.onError?.(`${path} could not be removed: ${(error as Error).message}`);
        return undefined;
      }
      // Never below zero: a file put there by hand while the server ran was never counted.
      this.#usage.bytes = Math.max(0, this.#usage.bytes - size);
      this.#usage.files = Math.max(0, this.#usage.files - 1);
      return size;
    });
  }

  #locked<T>(path: string, fn: () => Promise<T>): Promise<T> {
    return this.#locks.run(path, fn);
  }

  /** Every rendering on disk. */
  async *#files(): AsyncGenerator<
    { path: string; digest: string; baseHash: string; gzip: boolean; size: number; mtime: number }
  > {
    let prefixes: Deno.DirEntry[];
    try {
      prefixes = await Array.fromAsync(Deno.readDir(this.dir));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return;
      throw error;
    }
    for (const prefix of prefixes) {
      if (!prefix.isDirectory) continue;
      for await (const entry of Deno.readDir(join(this.dir, prefix.name))) {
        const match = RENDERING_NAME.exec(entry.name);
        if (!entry.isFile || !match) continue;
        const path = join(this.dir, prefix.name, entry.name);
        const info = await Deno.stat(path).catch(() => undefined);
        if (!info) continue;
        yield {
          path,
          digest: match[1],
          baseHash: match[2],
          gzip: match[3] !== undefined,
          size: info.size,
          mtime: info.mtime?.getTime() ?? 0,
        };
      }
    }
  }
}

function baseHash(baseUrl: string): string {
  return sha256Hex(baseUrl).slice(0, 16);
}

const NO_BASE_HASH = baseHash("");

/**
 * The template file with every placeholder replaced, read and written in 64 KiB pieces: memory
 * stays flat whatever the document's size. The placeholder is ASCII, so it is found in the bytes;
 * up to its length less one byte is held back at each piece's end in case it starts there.
 */
function replacingStream(
  path: string,
  replacement: Uint8Array,
  onBytes: (n: number) => void,
): ReadableStream<Uint8Array> {
  let file: Deno.FsFile | undefined;
  let carry = new Uint8Array(0);
  const close = () => {
    file?.close();
    file = undefined;
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        file ??= await Deno.open(path, { read: true });
        const buffer = new Uint8Array(STREAM_CHUNK);
        const n = await file.read(buffer);
        if (n === null) {
          close();
          if (carry.byteLength > 0) {
            onBytes(carry.byteLength);
            controller.enqueue(carry);
          }
          controller.close();
          return;
        }
        const data = concatBytes([carry, buffer.subarray(0, n)]);
        const pieces: Uint8Array[] = [];
        let position = 0;
        for (let at = indexOf(data, position); at >= 0; at = indexOf(data, position)) {
          pieces.push(data.subarray(position, at), replacement);
          position = at + PLACEHOLDER_BYTES.byteLength;
        }
        const keep = Math.max(position, data.byteLength - (PLACEHOLDER_BYTES.byteLength - 1));
        pieces.push(data.subarray(position, keep));
        carry = data.slice(keep);
        const out = concatBytes(pieces);
        onBytes(out.byteLength);
        controller.enqueue(out);
      } catch (error) {
        close();
        controller.error(error);
      }
    },
    cancel: close,
    // Nothing is read before the client reads (a HEAD cancels it unread).
  }, { highWaterMark: 0 });
}

function indexOf(data: Uint8Array, from: number): number {
  const first = PLACEHOLDER_BYTES[0];
  const last = data.byteLength - PLACEHOLDER_BYTES.byteLength;
  for (
    let at = data.indexOf(first, from);
    at >= 0 && at <= last;
    at = data.indexOf(first, at + 1)
  ) {
    let matches = true;
    for (let i = 1; i < PLACEHOLDER_BYTES.byteLength; i++) {
      if (data[at + i] !== PLACEHOLDER_BYTES[i]) {
        matches = false;
        break;
      }
    }
    if (matches) return at;
  }
  return -1;
}
