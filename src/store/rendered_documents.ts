// Metadata documents are stored once with a placeholder where this server's base URL belongs,
// because the URL a client must use depends on how it reached us (127.0.0.1 on the host,
// host.docker.internal in a VM). The first request through a given base renders the document
// for that base, plain and gzip-compressed, onto disk; every later request streams those bytes
// without parsing or re-serializing anything.
import { join } from "node:path";
import type { BlobStore } from "./blob_store.ts";
import { sha256Hex } from "./hashing.ts";
import { Coalescer } from "../upstream/coalescer.ts";

export const BASE_URL_PLACEHOLDER = "@@vm-pkg-base-url@@";

export interface RenderedDocument {
  path: string;
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

  constructor(private readonly dir: string, private readonly blobs: BlobStore) {}

  async init(): Promise<void> {
    await Deno.mkdir(this.dir, { recursive: true });
  }

  /**
   * The document `digest` with its placeholder replaced by `baseUrl`. A gzip copy is served when
   * asked for and already rendered; the first time, the plain copy is served and the gzip copy is
   * made in the background, so compressing a 20 MB packument never delays a cold install.
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
    try {
      return { path, etag, gzip, size: (await Deno.stat(path)).size };
    } catch {
      return undefined;
    }
  }

  #renderOnce(digest: string, baseUrl: string, gzip: boolean): Promise<RenderedDocument> {
    const { path, etag } = this.#location(digest, baseUrl, gzip);
    return this.#coalescer.run(path, () => this.#render(digest, baseUrl, gzip, path, etag));
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
    const template = await this.blobs.readBytes(digest);
    if (!template) throw new Error(`metadata blob ${digest} is missing from the store`);
    const text = new TextDecoder().decode(template).replaceAll(BASE_URL_PLACEHOLDER, baseUrl);
    let bytes: Uint8Array = new TextEncoder().encode(text);
    if (gzip) bytes = await gzipBytes(bytes);
    const temp = this.blobs.tempPath("render");
    try {
      await Deno.mkdir(join(path, ".."), { recursive: true });
      await Deno.writeFile(temp, bytes);
      await Deno.rename(temp, path);
    } catch (error) {
      await this.blobs.discard(temp);
      throw error;
    }
    return { path, size: bytes.byteLength, etag, gzip };
  }
}

async function gzipBytes(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}
