// One HTTP/1.1 GET over a plain TCP connection, returning the body exactly as the server sent it.
// `fetch` undoes Content-Encoding, but the static copies for nginx must be the served bytes
// (the gzip stream itself), and the warm-up must see which encoding the server chose.
import { concatBytes } from "../../src/host/bytes.ts";

export interface RawResponse {
  status: number;
  headers: Headers;
  /** The body as sent: still gzip-compressed when Content-Encoding says gzip. */
  body: Uint8Array;
}

const TIMEOUT_MS = 120_000;

export async function rawGet(url: string, headers: Record<string, string>): Promise<RawResponse> {
  const target = new URL(url);
  if (target.protocol !== "http:") throw new Error(`rawGet speaks plain http only, not ${url}`);
  const port = Number(target.port || 80);
  const connection = await Deno.connect({ hostname: target.hostname, port });
  const timer = setTimeout(() => connection.close(), TIMEOUT_MS);
  try {
    const lines = [
      `GET ${target.pathname}${target.search} HTTP/1.1`,
      `Host: ${target.host}`,
      "Connection: close",
      ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
    ];
    const request = new TextEncoder().encode(lines.join("\r\n") + "\r\n\r\n");
    for (let offset = 0; offset < request.byteLength;) {
      offset += await connection.write(request.subarray(offset));
    }
    const raw = await readToEnd(connection);
    return parseResponse(raw, url);
  } finally {
    clearTimeout(timer);
    try {
      connection.close();
    } catch {
      // Closed by the timer or the peer.
    }
  }
}

async function readToEnd(connection: Deno.Conn): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  const buffer = new Uint8Array(256 * 1024);
  while (true) {
    const n = await connection.read(buffer);
    if (n === null) break;
    chunks.push(buffer.slice(0, n));
    total += n;
  }
  return concatBytes(chunks);
}

function parseResponse(raw: Uint8Array, url: string): RawResponse {
  const end = indexOf(raw, [13, 10, 13, 10], 0);
  if (end < 0) throw new Error(`GET ${url}: no complete response header`);
  const head = new TextDecoder().decode(raw.subarray(0, end)).split("\r\n");
  const status = Number(head[0].split(" ")[1]);
  const headers = new Headers();
  for (const line of head.slice(1)) {
    const colon = line.indexOf(":");
    if (colon > 0) headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  let body = raw.subarray(end + 4);
  if ((headers.get("transfer-encoding") ?? "").toLowerCase().includes("chunked")) {
    body = dechunk(body, url);
  } else if (headers.has("content-length")) {
    const length = Number(headers.get("content-length"));
    if (body.byteLength < length) {
      throw new Error(`GET ${url}: ${body.byteLength} of ${length} bytes arrived`);
    }
    body = body.subarray(0, length);
  }
  return { status, headers, body: body.slice() };
}

function dechunk(data: Uint8Array, url: string): Uint8Array {
  const parts: Uint8Array[] = [];
  let offset = 0;
  while (true) {
    const lineEnd = indexOf(data, [13, 10], offset);
    if (lineEnd < 0) throw new Error(`GET ${url}: truncated chunked body`);
    const size = parseInt(new TextDecoder().decode(data.subarray(offset, lineEnd)), 16);
    if (!Number.isFinite(size)) throw new Error(`GET ${url}: bad chunk size`);
    if (size === 0) break;
    parts.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
    offset = lineEnd + 2 + size + 2;
  }
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.byteLength, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}

function indexOf(haystack: Uint8Array, needle: number[], from: number): number {
  outer: for (let i = from; i <= haystack.byteLength - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) {
      if (haystack[i + j] !== needle[j]) continue outer;
    }
    return i;
  }
  return -1;
}
