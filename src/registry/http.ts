// Small response helpers shared by every ecosystem handler.

export function errorResponse(
  status: number,
  message: string,
  headers: HeadersInit = {},
): Response {
  const body = JSON.stringify({ error: message }) + "\n";
  const out = new Headers(headers);
  out.set("content-type", "application/json");
  return new Response(body, { status, headers: out });
}

export function jsonResponse(value: unknown, status = 200, headers: HeadersInit = {}): Response {
  const out = new Headers(headers);
  out.set("content-type", "application/json");
  return new Response(JSON.stringify(value) + "\n", { status, headers: out });
}

/** Whether If-None-Match matches the ETag, by the weak comparison RFC 9110 prescribes. */
export function etagMatches(request: Request, etag: string): boolean {
  const header = request.headers.get("if-none-match");
  if (!header) return false;
  if (header.trim() === "*") return true;
  const opaque = (tag: string) => tag.trim().replace(/^W\//, "");
  return header.split(",").some((candidate) => opaque(candidate) === opaque(etag));
}

export function acceptsGzip(request: Request): boolean {
  const header = request.headers.get("accept-encoding") ?? "";
  return header.split(",").some((part) => {
    const [coding, ...params] = part.trim().split(";");
    if (coding.trim().toLowerCase() !== "gzip") return false;
    const q = params.find((p) => p.trim().startsWith("q="));
    return !q || Number(q.trim().slice(2)) > 0;
  });
}

const HOST_HEADER = /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/;

/**
 * The base URL a client should use for follow-up requests, built from the Host it used (so a VM
 * that reached us as host.docker.internal gets URLs with that name). Only used to build URLs in
 * responses, never to decide where to fetch from.
 */
export function baseUrlFor(request: Request, fallbackHost: string, prefix: string): string {
  const host = request.headers.get("host");
  const safeHost = host && HOST_HEADER.test(host) ? host : fallbackHost;
  return `http://${safeHost}${prefix}`;
}

/** Passes a body through, reporting each chunk's size (for servedBytes). */
export function countBytes(
  body: ReadableStream<Uint8Array>,
  onBytes: (n: number) => void,
): ReadableStream<Uint8Array> {
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        onBytes(chunk.byteLength);
        controller.enqueue(chunk);
      },
    }),
  );
}

export interface FileResponseOptions {
  path: string;
  etag: string;
  headers: HeadersInit;
  onBytes(n: number): void;
}

/** Streams a file from disk with Content-Length and ETag, or answers 304. */
export async function fileResponse(
  request: Request,
  options: FileResponseOptions,
): Promise<Response | undefined> {
  const headers = new Headers(options.headers);
  headers.set("etag", options.etag);
  if (etagMatches(request, options.etag)) return new Response(null, { status: 304, headers });
  let file: Deno.FsFile;
  try {
    file = await Deno.open(options.path, { read: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  const { size } = await file.stat();
  headers.set("content-length", String(size));
  if (request.method === "HEAD") {
    file.close();
    return new Response(null, { status: 200, headers });
  }
  return new Response(countBytes(file.readable, options.onBytes), { status: 200, headers });
}
