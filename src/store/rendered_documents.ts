// Metadata documents are stored once with a placeholder where this server's base URL belongs,
// because the URL a client must use depends on how it reached us (127.0.0.1 on the host,
// host.docker.internal in a VM). The first request through a given base renders the document
// for that base, plain and gzip-compressed, onto disk; every later request streams those bytes
// without parsing or re-serializing anything.
import { join } from "node:path";
import type { BlobStore } from "./blob_store.ts";
import { sha256Hex } from "./hashing.ts";
import { Coalescer } from "../upstream/coalescer.ts";
import { promisify } from "node:util";
import { gzip as gzipCallback } from "node:zlib";

const gzipAsync = promisify(gzipCallback);

export const BASE_URL_PLACEHOLDER = "@@vm-pkg-base-url@@";
/** Rendered documents up to this size are kept in memory once rendered or first read… */
const HOT_MAX_DOCUMENT = 256 * 1024;
/** …up to this much in total. */
const HOT_MAX_BYTES = 32 * 1024 * 1024;
/** About 64 MB of recently stored templates are kept in memory. */
const RECENT_MAX_CHARS = 32 * 1024 * 1024;

export interface RenderedDocument {
  path: string;
  /**
   * The bytes, when this request rendered the document: they are served from memory while the
   * file is written in the background, so a cold request never waits for the disk.
   */
  bytes?: Uint8Array;
  size: number;
  /**
   * A weak validator shared by the plain and gzip copies: they are the same document, and
   * If-None-Match uses weak comparison, so a client that cached either copy gets its 304.
   */
  etag: string;
  gzip: boolean;
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

  constructor(private readonly dir: string, private readonly blobs: BlobStore) {}

  async init(): Promise<void> {
    await Deno.mkdir(this.dir, { recursive: true });
  }

  /**
   * The document `digest` with its placeholder replaced by `baseUrl`. The first request renders
   * the plain copy; a gzip copy (fast level-1 zlib) is then made in the background and served to
   * every later client that accepts gzip.
   */
  async get(digest: string, baseUrl: string, gzip: boolean): Promise<RenderedDocument> {
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

  #location(digest: string, baseUrl: string, gzip: boolean) {
    const base = sha256Hex(baseUrl).slice(0, 16);
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
    const { path, etag } = this.#location(digest, baseUrl, gzip);
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
      return undefined;
    }
    if (size > HOT_MAX_DOCUMENT) return { path, etag, gzip, size };
    const bytes = await Deno.readFile(path).catch(() => undefined);
    if (!bytes) return undefined;
    const document = { path, etag, gzip, size, bytes };
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
      this.#hot.delete(path);
      this.#hotBytes -= oldest.bytes!.byteLength;
    }
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

  #inBackground(task: Promise<unknown>): void {
    const tracked = task.catch(() => {}).finally(() => this.#background.delete(tracked));
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
    const rendered: RenderedDocument = { path, bytes, size: bytes.byteLength, etag, gzip };
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
    const temp = this.blobs.tempPath("render");
    try {
      await Deno.mkdir(join(path, ".."), { recursive: true });
      await Deno.writeFile(temp, bytes);
      await Deno.rename(temp, path);
    } catch (error) {
      await this.blobs.discard(temp);
      throw error;
    }
  }
}
