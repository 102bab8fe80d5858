// Small response helpers shared by every ecosystem handler.

/**
 * An error answer: `{"error": message}`, which the dispatcher re-shapes into the error body of the
 * ecosystem whose route answered (cargo reads `{"errors":[{"detail"}]}`), so shared code never
 * needs to know whose request it serves.
 */
export class ErrorResponse extends Response {
  constructor(readonly message: string, status: number, readonly headersGiven: HeadersInit = {}) {
    const out = new Headers(headersGiven);
    out.set("content-type", "application/json");
    super(JSON.stringify({ error: message }) + "\n", { status, headers: out });
  }
}

export function errorResponse(
  status: number,
  message: string,
  headers: HeadersInit = {},
): Response {
  return new ErrorResponse(message, status, headers);
}

/**
 * A response whose body's bytes are counted once it is sent, not when it is made: a HEAD runs the
 * same handler as a GET and drops the body (dispatch.ts), and what was not sent is not counted.
 */
export class CountedResponse extends Response {
  constructor(body: BodyInit | null, init: ResponseInit, readonly countSent: () => void) {
    super(body, init);
  }
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
 * A Host header value as a URL writes it: lowercase, IP forms normalized (`127.1` is
 * `127.0.0.1`), port without leading zeros and dropped when it is 80. Undefined for anything but
 * a plain host[:port]. So the spellings of one name give one base URL (and one rendering).
 */
export function normalizeHost(host: string): string | undefined {
  if (!HOST_HEADER.test(host)) return undefined;
  try {
    const url = new URL(`http://${host}`);
    return url.host === "" ? undefined : url.host;
  } catch {
    return undefined; // a port over 65535, an invalid IPv6 address
  }
}

/**
 * The base URL a client should use for follow-up requests, built from the Host it used (so a VM
 * that reached us as host.docker.internal gets URLs with that name). Only used to build URLs in
 * responses, never to decide where to fetch from.
 */
export function baseUrlFor(request: Request, fallbackHost: string, prefix: string): string {
  const host = request.headers.get("host");
  const safeHost = (host && normalizeHost(host)) ?? fallbackHost;
  return `http://${safeHost}${prefix}`;
}

/**
 * Names every registry answers to besides its listen addresses: the host itself and the VMs'
 * name for it (the Docker bridge gateway is a listen address).
 */
export const SERVER_NAMES: readonly string[] = [
  "127.0.0.1",
  "localhost",
  "[::1]",
  "host.docker.internal",
];

/**
 * The base URLs this server keeps renderings for: each name (host, or host:port when it is
 * reached on another port, e.g. published from a container) on `port`, under each prefix.
 * Wildcard listen addresses (0.0.0.0, ::) are nobody's name and are left out.
 */
export function serverBaseUrls(
  names: readonly string[],
  port: number,
  prefixes: readonly string[],
): Set<string> {
  const bases = new Set<string>();
  for (const name of names) {
    if (name === "0.0.0.0" || name === "::" || name === "[::]" || name === "") continue;
    const hasPort = /^\[[^\]]+\]:\d+$|^[^:[\]]+:\d+$/.test(name);
    const bareIpv6 = !hasPort && name.includes(":") && !name.startsWith("[");
    const withPort = hasPort ? name : `${bareIpv6 ? `[${name}]` : name}:${port}`;
    const host = normalizeHost(withPort);
    if (host === undefined) continue;
    for (const prefix of prefixes) bases.add(`http://${host}${prefix}`);
  }
  return bases;
}

export interface FileResponseOptions {
  path: string;
  /** The file's bytes, when they are in memory already (then the file is not read). */
  bytes?: Uint8Array;
  etag: string;
  headers: HeadersInit;
  /** Answer single-range requests with 206 (and advertise Accept-Ranges). */
  ranges?: boolean;
  onBytes(n: number): void;
}

/** Streams a file from disk with Content-Length and ETag, or answers 304 / 206 / 416. */
export async function fileResponse(
  request: Request,
  options: FileResponseOptions,
): Promise<Response | undefined> {
  const headers = new Headers(options.headers);
  headers.set("etag", options.etag);
  if (options.ranges) headers.set("accept-ranges", "bytes");
  if (etagMatches(request, options.etag)) return new Response(null, { status: 304, headers });
  if (options.bytes) {
    const bytes = options.bytes;
    headers.set("content-length", String(bytes.byteLength));
    return new CountedResponse(
      bytesBody(bytes),
      { status: 200, headers },
      () => options.onBytes(bytes.byteLength),
    );
  }
  let file: Deno.FsFile;
  try {
    file = await Deno.open(options.path, { read: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  const { size } = await file.stat();
  const range = options.ranges ? requestedRange(request, options.etag, size) : undefined;
  if (range === "unsatisfiable") {
    file.close();
    headers.set("content-range", `bytes */${size}`);
    return new Response(null, { status: 416, headers });
  }
  const start = range?.start ?? 0;
  const length = range ? range.end - range.start + 1 : size;
  headers.set("content-length", String(length));
  if (range) headers.set("content-range", `bytes ${range.start}-${range.end}/${size}`);
  const status = range ? 206 : 200;
  // Counted whole once sent: a counting stream would pass every chunk through JavaScript, which
  // halves what a tarball can be served at (a client that hangs up early is still counted in full).
  const body = range ? fileSlice(file, start, length) : file.readable;
  return new CountedResponse(body, { status, headers }, () => options.onBytes(length));
}

/**
 * A response body from bytes in memory. `new Response(bytes)` copies them, so 128 clients of one
 * 10 MB document would hold 128 copies; views into the one buffer cost nothing.
 */
function bytesBody(bytes: Uint8Array): BodyInit {
  if (bytes.byteLength <= 64 * 1024) return bytes as BodyInit;
  let offset = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      const end = Math.min(offset + 64 * 1024, bytes.byteLength);
      controller.enqueue(bytes.subarray(offset, end));
      offset = end;
      if (offset >= bytes.byteLength) controller.close();
    },
  }, { highWaterMark: 0 });
}

/**
 * One `bytes=` range, as uv asks for wheel metadata. Several ranges, a malformed header, or an
 * If-Range that no longer matches mean "send the whole file", which RFC 9110 allows.
 */
function requestedRange(
  request: Request,
  etag: string,
  size: number,
): { start: number; end: number } | "unsatisfiable" | undefined {
  const header = request.headers.get("range");
  if (!header) return undefined;
  const ifRange = request.headers.get("if-range");
  if (ifRange && ifRange.trim() !== etag) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === "" && match[2] === "")) return undefined;
  if (match[1] === "") {
    const suffix = Number(match[2]);
    if (suffix === 0) return "unsatisfiable";
    // An empty file has no last bytes to name (`bytes 0--1/0`): it is sent whole.
    if (size === 0) return undefined;
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(match[1]);
  const end = match[2] === "" ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (start >= size || end < start) return "unsatisfiable";
  return { start, end };
}

function fileSlice(file: Deno.FsFile, start: number, length: number): ReadableStream<Uint8Array> {
  let remaining = length;
  let positioned = false;
  // Nothing is read before the client reads (a HEAD cancels it unread).
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!positioned) {
        await file.seek(start, Deno.SeekMode.Start);
        positioned = true;
      }
      const buffer = new Uint8Array(Math.min(64 * 1024, remaining));
      const n = await file.read(buffer);
      if (n === null || n === 0) {
        file.close();
        controller.error(new Error("file ended early"));
        return;
      }
      remaining -= n;
      controller.enqueue(buffer.subarray(0, n));
      if (remaining === 0) {
        file.close();
        controller.close();
      }
    },
    cancel() {
      file.close();
    },
  }, { highWaterMark: 0 });
}
