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
  /** Strong validator for this exact representation. */
  etag: string;
}

export class RenderedDocuments {
  readonly #coalescer = new Coalescer<RenderedDocument>();

  constructor(private readonly dir: string, private readonly blobs: BlobStore) {}

  async init(): Promise<void> {
    await Deno.mkdir(this.dir, { recursive: true });
  }

  /** The document `digest` with its placeholder replaced by `baseUrl`, optionally gzipped. */
  async get(digest: string, baseUrl: string, gzip: boolean): Promise<RenderedDocument> {
    const variant = `${sha256Hex(baseUrl).slice(0, 16)}${gzip ? ".gz" : ""}`;
    const path = join(this.dir, digest.slice(0, 2), `${digest}-${variant}`);
    const etag = `"${digest.slice(0, 32)}-${variant}"`;
    try {
      return { path, size: (await Deno.stat(path)).size, etag };
    } catch {
      return await this.#coalescer.run(path, () => this.#render(digest, baseUrl, gzip, path, etag));
    }
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
    return { path, size: bytes.byteLength, etag };
  }
}

async function gzipBytes(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}
