// A hostile upstream on loopback, speaking raw HTTP/1.1 over TCP so that it can lie in ways
// Deno.serve will not: a Content-Length with a chunked body that goes on, a body that never ends,
// a gzip bomb, a redirect anywhere. Each path answers what the test put in `routes`; every
// request is recorded, and so is every body byte the peer accepted. Endless bodies end when the
// peer stops reading or the stand-in closes (and at `cap`, so a registry without limits finishes).
import { createGzip } from "node:zlib";
import { concatBytes } from "../../src/host/bytes.ts";
import { createHash } from "node:crypto";

export interface HostileResponse {
  status?: number;
  headers?: Record<string, string>;
  body?: Uint8Array | string | (() => AsyncIterable<Uint8Array> | Iterable<Uint8Array>);
  /** Frame the body as chunked (whatever Content-Length the headers claim). */
  chunked?: boolean;
}

export interface HostileUpstream {
  url: string;
  port: number;
  /** Path (without query) → response; `fallback` answers every other path. */
  routes: Map<string, HostileResponse>;
  fallback: HostileResponse;
  /** Every request's path, in order. */
  requests: string[];
  /** Body bytes written per path (what the peer took before it went away). */
  sentBytes(path: string): number;
  close(): Promise<void>;
}

export function startHostileUpstream(): HostileUpstream {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const open = new Set<Deno.Conn>();
  const handlers = new Set<Promise<void>>();
  const sent = new Map<string, number>();
  let closed = false;
  const state: HostileUpstream = {
    url: `http://127.0.0.1:${port}`,
    port,
    routes: new Map(),
    fallback: { status: 404, body: "not found" },
    requests: [],
    sentBytes: (path) => sent.get(path) ?? 0,
    close: async () => {
      closed = true;
      listener.close();
      for (const conn of open) closeQuietly(conn);
      await Promise.allSettled([...handlers]);
      await accepting;
    },
  };

  const serve = async (conn: Deno.Conn) => {
    try {
      const head = await readHead(conn);
      if (head === undefined) return;
      const path = head.split(" ")[1]?.split("?")[0] ?? "/";
      state.requests.push(path);
      const response = state.routes.get(path) ?? state.fallback;
      const headers = { ...response.headers };
      const body = typeof response.body === "string"
        ? new TextEncoder().encode(response.body)
        : response.body;
      if (body instanceof Uint8Array && !response.chunked) {
        headers["content-length"] ??= String(body.byteLength);
      }
      if (response.chunked) headers["transfer-encoding"] = "chunked";
      const lines = [`HTTP/1.1 ${response.status ?? 200} X`, "connection: close"];
      for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
      await writeAll(conn, new TextEncoder().encode(lines.join("\r\n") + "\r\n\r\n"));
      const chunks = body === undefined ? [] : body instanceof Uint8Array ? [body] : body();
      for await (const chunk of chunks) {
        if (closed) break;
        if (response.chunked) {
          await writeAll(conn, new TextEncoder().encode(`${chunk.byteLength.toString(16)}\r\n`));
        }
        await writeAll(conn, chunk);
        sent.set(path, (sent.get(path) ?? 0) + chunk.byteLength);
        if (response.chunked) await writeAll(conn, new TextEncoder().encode("\r\n"));
      }
      if (response.chunked && !closed) await writeAll(conn, new TextEncoder().encode("0\r\n\r\n"));
    } catch {
      // The peer went away (a registry that stopped reading): that is the point.
    } finally {
      open.delete(conn);
      closeQuietly(conn);
    }
  };

  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        open.add(conn);
        const handler = serve(conn);
        handlers.add(handler);
        handler.finally(() => handlers.delete(handler));
      }
    } catch {
      // closed
    }
  })();
  return state;
}

/** A body of `fill` bytes that goes on up to `cap` bytes, in chunks of 64 KiB. */
export function* endlessBody(cap: number, fill = 0x61): Generator<Uint8Array> {
  const chunk = new Uint8Array(64 * 1024).fill(fill);
  for (let sent = 0; sent < cap; sent += chunk.byteLength) yield chunk;
}

/** `prefix`, then `inflated` bytes of "a", then `suffix`, gzipped: a few hundred KB at most. */
export async function gzipBomb(prefix: string, inflated: number, suffix: string) {
  const gzip = createGzip({ level: 9 });
  const out: Uint8Array[] = [];
  gzip.on("data", (chunk: Uint8Array) => out.push(chunk));
  const ended = new Promise((resolve) => gzip.on("end", resolve));
  const fill = new Uint8Array(1024 * 1024).fill(0x61);
  gzip.write(new TextEncoder().encode(prefix));
  for (let written = 0; written < inflated; written += fill.byteLength) {
    const part = fill.subarray(0, Math.min(fill.byteLength, inflated - written));
    if (!gzip.write(part)) await new Promise((resolve) => gzip.once("drain", resolve));
  }
  gzip.end(new TextEncoder().encode(suffix));
  await ended;
  return concatBytes(out);
}

export const sha256Hex = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");
export const sha512Integrity = (bytes: Uint8Array) =>
  "sha512-" + createHash("sha512").update(bytes).digest("base64");

async function readHead(conn: Deno.Conn): Promise<string | undefined> {
  const buffer = new Uint8Array(64 * 1024);
  let length = 0;
  while (length < buffer.length) {
    const n = await conn.read(buffer.subarray(length));
    if (n === null) return undefined;
    length += n;
    const text = new TextDecoder().decode(buffer.subarray(0, length));
    if (text.includes("\r\n\r\n")) return text;
  }
  return undefined;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let offset = 0; offset < bytes.byteLength;) {
    offset += await conn.write(bytes.subarray(offset));
  }
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // already closed
  }
}
