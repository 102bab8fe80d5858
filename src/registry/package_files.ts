// Serving one package file (npm tarball, wheel, sdist, .crate), the same for every ecosystem:
// a verified copy in the store is a hit; otherwise the file is downloaded once (coalesced),
// verified against the digest the ecosystem's index published, and streamed to every client
// that asked while it is written.
import { isDiskFull } from "../store/blob_store.ts";
import type { ExpectedDigest } from "../store/hashing.ts";
import type { PrivateFile } from "../store/private_packages.ts";
import type { StoredFile } from "../upstream/verified_download.ts";
import type { EcosystemContext } from "./context.ts";
import { errorResponse, fileResponse } from "./http.ts";

export interface FileSource {
  url: string;
  /** What the bytes must hash to; or `verify`, for digests that are not of the bytes. */
  expected?: ExpectedDigest;
  /** Checks the complete downloaded file before it is stored; throws to refuse it. */
  verify?(path: string): Promise<void>;
  /** The size the index published, when it publishes one: no more is read. */
  size?: number;
  /**
   * Answer only once the file is verified and stored, instead of streaming it as it arrives: a
   * file that fails its check then gets a clean error status rather than a body cut off. For
   * clients that read the whole file before using it anyway (the go command).
   */
  answerWhenVerified?: boolean;
}

export interface PackageFileRequest {
  /** KV key of the verified file's record. */
  recordKey: Deno.KvKey;
  /** Human-readable and unique, e.g. `npm:lodash/lodash-4.17.21.tgz`. */
  label: string;
  contentType: string;
  /** Where upstream has the file and what it must hash to, or a ready error response. */
  resolve(): Promise<FileSource | Response>;
}

const IMMUTABLE = "public, max-age=31536000, immutable";

export async function servePackageFile(
  ctx: EcosystemContext,
  request: Request,
  spec: PackageFileRequest,
): Promise<Response> {
  const headers = { "content-type": spec.contentType, "cache-control": IMMUTABLE };
  const countServed = (n: number) => {
    ctx.stats.add("servedBytes", n);
    // The same bytes a client would have downloaded from the upstream itself.
    ctx.stats.add("directBytes", n);
  };
  // Not evicted between reading the record and opening the blob; once open, the file can go:
  // the descriptor keeps reading it.
  const opening = ctx.cacheLimit.reading(spec.recordKey);
  try {
    const cached = (await ctx.kv.get<StoredFile>(spec.recordKey)).value;
    if (cached) {
      const hit = await fileResponse(request, {
        path: ctx.blobs.pathOf(cached.sha256),
        etag: `"${cached.sha256}"`,
        headers,
        ranges: true,
        onBytes: countServed,
      });
      if (hit) {
        ctx.stats.add("cacheHits");
        ctx.cacheLimit.touch(spec.recordKey);
        return hit;
      }
      ctx.log.warn(`blob of ${spec.label} is missing from the store; fetching it again`);
    }
  } finally {
    opening();
  }

  const source = await spec.resolve();
  if (source instanceof Response) return source;
  ctx.stats.add("cacheMisses");
  // A download is not evicted while this client follows it: the client may open the stored file
  // only after it left the temp dir.
  const following = ctx.cacheLimit.reading(spec.recordKey);
  const download = await ctx.downloads.join({
    key: spec.label,
    url: source.url,
    expected: source.expected,
    verify: source.verify,
    size: source.size,
    onStored: async (file) => {
      await ctx.kv.set(spec.recordKey, { ...file, storedAt: ctx.clock.now() });
      ctx.cacheLimit.touch(spec.recordKey);
      ctx.cacheLimit.afterStore();
    },
    onFailed: (error) => {
      if (isDiskFull(error)) {
        ctx.log.error(`${spec.label}: download cut off, disk full: ${error.message}`);
      } else {
        ctx.log.warn(`${spec.label}: download failed, nothing stored: ${error.message}`);
      }
    },
  }).catch((error) => {
    following();
    throw error;
  });
  if (source.answerWhenVerified) {
    try {
      await download.finished;
      if (download.state === "failed" || !download.result) throw download.error;
      const response = await fileResponse(request, {
        path: ctx.blobs.pathOf(download.result.sha256),
        etag: `"${download.result.sha256}"`,
        headers,
        ranges: true,
        onBytes: countServed,
      });
      if (!response) throw new Error(`${spec.label} vanished from the store once verified`);
      return response;
    } finally {
      following();
    }
  }
  // Ranges are not offered while the file is still arriving: the whole body is sent (RFC 9110
  // lets a server ignore Range), and a client like uv then reads what it needs from it.
  const responseHeaders = new Headers(headers);
  if (download.expectedSize !== undefined) {
    responseHeaders.set("content-length", String(download.expectedSize));
  }
  return new Response(untilDone(() => download.follow(countServed), following), {
    headers: responseHeaders,
  });
}

/**
 * The stream `open` makes, calling `done` once when it ends, fails or the client goes away. It is
 * made at the first read: a HEAD (the GET answer without its body) cancels it before, so the
 * download's temp file is never opened for it and nothing is counted.
 */
function untilDone(
  open: () => ReadableStream<Uint8Array>,
  done: () => void,
): ReadableStream<Uint8Array> {
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        reader ??= open().getReader();
        const { value, done: finished } = await reader.read();
        if (finished) {
          done();
          controller.close();
        } else {
          controller.enqueue(value);
        }
      } catch (error) {
        done();
        controller.error(error);
      }
    },
    async cancel(reason) {
      done();
      await reader?.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

/** The answer when the index lists no such file. */
export function fileNotListed(name: string, filename: string): Response {
  return errorResponse(404, `${filename} is not a published file of ${name}`);
}

/**
 * A file of a private package: from the store or not at all (never upstream). Not immutable for
 * caches: a removed version may be published again under the same file name.
 */
export async function servePrivateFile(
  ctx: EcosystemContext,
  request: Request,
  file: PrivateFile,
  contentType: string,
): Promise<Response> {
  const response = await fileResponse(request, {
    path: ctx.blobs.pathOf(file.sha256),
    etag: `"${file.sha256}"`,
    headers: { "content-type": contentType, "cache-control": "no-cache" },
    ranges: true,
    onBytes: (n) => ctx.stats.add("servedBytes", n),
  });
  if (!response) {
    ctx.log.error(`the stored private file ${file.filename} (${file.sha256}) is missing`);
    return errorResponse(500, `the stored file ${file.filename} is missing from the store`);
  }
  ctx.stats.add("cacheHits");
  return response;
}
