// The registry's HTTP listener: node:http, adapted to the `(Request, info) => Response` handler the
// registry is written against. Deno.serve has no connection cap and no header or idle timeout (a
// socket that sends nothing stays open forever; ~20 K of them ended the process on EMFILE), and
// none can be put in front of it without copying every byte through JavaScript once more (an
// accept loop piping to an internal Deno.serve served 30-47% fewer large responses, and hid the
// client address the per-VM counters need). node:http has the timeouts (headersTimeout,
// requestTimeout) and the client address; one gate shared by every listen address adds the rest:
//  - a cap: the connection that has waited longest without a request in progress (kept alive
//    between requests, silent, or still dribbling its request head) is closed to make room, so a
//    new client, /-/health included, gets in while sockets that do nothing are dropped; when every
//    open connection has a request in progress, the new one is refused (closed at once);
//  - the cap stays well below the descriptor limit, leaving room for the files and temp files each
//    connection may hold: in Deno 2.9 a node:http server whose accept() meets EMFILE stops
//    accepting for good, silently (measured), so it must never get there;
//  - idle connections, and busy ones where no byte moves, are closed by a sweep, not by a timer
//    per socket re-armed on every request.
// Files are read in 256 KiB pieces into one buffer per response (BYOB): with 64 KiB chunks and a
// new buffer each, a tarball was served 35% slower than by Deno.serve; this way it is faster.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";

export interface ConnectionLimits {
  /** Client connections open at once, over every listen address. */
  maxConnections: number;
  /** A connection must deliver a complete request head within this (silent or slowloris). */
  headerTimeoutMs: number;
  /**
   * A kept-alive connection between requests is closed after this; so is one where no byte moves
   * either way while a request is in progress (a stalled upload, a client that stopped reading).
   */
  idleTimeoutMs: number;
  /** A whole request, head and body, must arrive within this. */
  requestTimeoutMs: number;
}

export const DEFAULT_HEADER_TIMEOUT_SECONDS = 30;
export const DEFAULT_IDLE_TIMEOUT_SECONDS = 60;
export const DEFAULT_REQUEST_TIMEOUT_SECONDS = 300;

/** Descriptors kept for everything but client sockets: store files, KV, upstream sockets, logs. */
const RESERVED_DESCRIPTORS = 256;
/**
 * Per connection: its socket, a cached file it streams, and, for a download, a temp file (the
 * upstream socket is shared by every client of one download and pooled).
 */
const DESCRIPTORS_PER_CONNECTION = 3;
/** Plenty for a team's VMs; more sockets only cost memory. */
const MAX_DEFAULT_CONNECTIONS = 4096;
const MIN_CONNECTIONS = 16;

/**
 * The open-file limit this process runs under (Deno raises the soft limit to the hard one at
 * start, and children inherit it), from the shell's `ulimit -n`: Deno lets only --allow-all read
 * /proc/self/limits. Undefined where no shell may be run: the sandboxed background server, which
 * is handed the figure by the command that starts it (settings.ts, max_connections).
 */
export function descriptorLimit(): number | undefined {
  try {
    const { success, stdout } = new Deno.Command("sh", {
      args: ["-c", "ulimit -n"],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).outputSync();
    const text = new TextDecoder().decode(stdout).trim();
    if (!success) return undefined;
    if (text === "unlimited") return Number.MAX_SAFE_INTEGER;
    const limit = Number(text);
    return Number.isSafeInteger(limit) && limit > 0 ? limit : undefined;
  } catch {
    return undefined;
  }
}

/** The connection cap for a descriptor limit (unknown: as for 1024, a common default). */
export function maxConnectionsFor(limit: number | undefined): number {
  const room = Math.floor(((limit ?? 1024) - RESERVED_DESCRIPTORS) / DESCRIPTORS_PER_CONNECTION);
  return Math.max(MIN_CONNECTIONS, Math.min(MAX_DEFAULT_CONNECTIONS, room));
}

export interface ConnectionFigures {
  /** Client connections open now. */
  open: number;
  /** Of those, the ones with a request in progress. */
  active: number;
  max: number;
  /** Connections closed at the cap because every open one was busy. */
  refused: number;
  /** Connections without a request in progress closed at the cap to make room. */
  evicted: number;
  /** Connections closed idle, or busy without a byte moving, for the idle timeout. */
  timedOut: number;
}

interface Tracked {
  socket: Socket;
  /** Requests in progress on it (pipelined ones count one each). */
  requests: number;
  /** When it last became idle, or last moved a byte while busy (ms, performance.now()). */
  since: number;
  /** Bytes read and written when last looked at (busy connections only). */
  bytes: number;
}

export interface GateOptions {
  /** Client connections open at once. */
  max: number;
  /** How long a connection may sit idle, or busy without a byte moving, before it is closed. */
  idleTimeoutMs: number;
  /** Called whenever the cap closes or refuses a connection (to log it). */
  onCap?(figures: ConnectionFigures, refused: boolean): void;
}

/**
 * Every open client connection of the process, over all listen addresses. Connections without a
 * request in progress are kept in the order they became so: the first is the one to close at the
 * cap, and a sweep closes them from the front once idle for the idle timeout (instead of a timer
 * per connection, which node:http would re-arm on every request). The sweep also closes busy
 * connections that moved no byte for as long: a stalled upload, a client that stopped reading.
 */
export class ConnectionGate {
  readonly max: number;
  readonly #idleTimeoutMs: number;
  readonly #idle = new Map<Socket, Tracked>();
  readonly #active = new Map<Socket, Tracked>();
  readonly #onCap: NonNullable<GateOptions["onCap"]>;
  readonly #sweeper: ReturnType<typeof setInterval>;
  #refused = 0;
  #evicted = 0;
  #timedOut = 0;
  #closing = false;

  constructor(options: GateOptions) {
    const { max, idleTimeoutMs } = options;
    if (!(Number.isSafeInteger(max) && max > 0)) {
      throw new TypeError(`maxConnections must be a positive whole number: ${max}`);
    }
    if (!(idleTimeoutMs > 0)) {
      throw new TypeError(`idleTimeoutMs must be positive: ${idleTimeoutMs}`);
    }
    this.max = max;
    this.#idleTimeoutMs = idleTimeoutMs;
    this.#onCap = options.onCap ?? (() => {});
    this.#sweeper = setInterval(
      () => this.sweep(),
      Math.max(50, Math.min(1000, idleTimeoutMs / 4)),
    );
  }

  get closing(): boolean {
    return this.#closing;
  }

  /** Takes a new connection in, making room or refusing it at the cap. */
  admit(socket: Socket): void {
    if (this.#closing) {
      socket.destroy();
      return;
    }
    if (this.#idle.size + this.#active.size >= this.max) {
      const [oldest] = this.#idle.values();
      if (oldest) {
        this.#evicted++;
        this.#forget(oldest.socket);
        oldest.socket.destroy();
        this.#onCap(this.figures(), false);
      } else {
        this.#refused++;
        socket.destroy();
        this.#onCap(this.figures(), true);
        return;
      }
    }
    this.#idle.set(socket, { socket, requests: 0, since: performance.now(), bytes: 0 });
    socket.once("close", () => this.#forget(socket));
  }

  requestStarted(socket: Socket): void {
    const tracked = this.#idle.get(socket) ?? this.#active.get(socket);
    if (!tracked) return; // already closed
    tracked.requests++;
    if (tracked.requests > 1) return;
    this.#idle.delete(socket);
    tracked.since = performance.now();
    tracked.bytes = socket.bytesRead + socket.bytesWritten;
    this.#active.set(socket, tracked);
  }

  requestEnded(socket: Socket): void {
    const tracked = this.#active.get(socket);
    if (!tracked) return;
    if (--tracked.requests > 0) return;
    this.#active.delete(socket);
    if (this.#closing) {
      socket.destroySoon();
      return;
    }
    tracked.since = performance.now();
    this.#idle.set(socket, tracked); // at the end: the most recently busy
  }

  /** Closes connections idle, or busy without a byte moving, for the idle timeout. */
  sweep(now = performance.now()): void {
    const deadline = now - this.#idleTimeoutMs;
    for (const tracked of this.#idle.values()) {
      if (tracked.since > deadline) break; // the rest became idle later
      this.#timeOut(tracked);
    }
    for (const tracked of this.#active.values()) {
      const bytes = tracked.socket.bytesRead + tracked.socket.bytesWritten;
      if (bytes !== tracked.bytes) {
        tracked.bytes = bytes;
        tracked.since = now;
      } else if (tracked.since <= deadline) {
        this.#timeOut(tracked);
      }
    }
  }

  /** Stops taking connections and closes those without a request in progress. */
  close(): void {
    this.#closing = true;
    clearInterval(this.#sweeper);
    for (const { socket } of [...this.#idle.values()]) socket.destroy();
  }

  figures(): ConnectionFigures {
    return {
      open: this.#idle.size + this.#active.size,
      active: this.#active.size,
      max: this.max,
      refused: this.#refused,
      evicted: this.#evicted,
      timedOut: this.#timedOut,
    };
  }

  #timeOut(tracked: Tracked): void {
    this.#timedOut++;
    this.#forget(tracked.socket);
    tracked.socket.destroy();
  }

  #forget(socket: Socket): void {
    this.#idle.delete(socket);
    this.#active.delete(socket);
  }
}

export type RequestHandler = (
  request: Request,
  info: { remoteAddr: Deno.NetAddr },
) => Promise<Response>;

export interface ListenOptions {
  hostname: string;
  /** 0 picks a free port. */
  port: number;
  gate: ConnectionGate;
  limits: Pick<ConnectionLimits, "headerTimeoutMs" | "requestTimeoutMs">;
  handler: RequestHandler;
  /** A failure outside the handler (the response could not be sent). */
  onError(error: unknown): void;
}

export interface HttpListener {
  addr: Deno.NetAddr;
  /** Stops accepting; resolves when every connection of this address has closed. */
  shutdown(): Promise<void>;
  /** Resolves when the listener has stopped, whoever stopped it. */
  finished: Promise<void>;
}

/** Listens on one address; rejects with AddrInUse / AddrNotAvailable like Deno.listen. */
export async function listenHttp(options: ListenOptions): Promise<HttpListener> {
  const { gate, limits } = options;
  const server: Server = createServer({
    headersTimeout: limits.headerTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    // The gate's sweep closes idle connections: no timer re-armed per request.
    keepAliveTimeout: 0,
    // How often the header and request timeouts are checked.
    connectionsCheckingInterval: Math.max(100, Math.min(1000, limits.headerTimeoutMs / 4)),
  });
  server.on("connection", (socket: Socket) => {
    socket.setNoDelay(true);
    gate.admit(socket);
  });
  server.on("clientError", (_error: Error, socket: Socket) => {
    // A malformed request, a head over the size limit, or a timeout: answer when nothing was sent
    // yet on this connection, then close it.
    const code = (_error as { code?: string }).code;
    const status = code === "HPE_HEADER_OVERFLOW"
      ? "431 Request Header Fields Too Large"
      : code === "ERR_HTTP_REQUEST_TIMEOUT"
      ? "408 Request Timeout"
      : "400 Bad Request";
    if (socket.writable && !(socket as { _httpMessage?: unknown })._httpMessage) {
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    }
    socket.destroySoon();
  });
  // For a request without a usable Host: the listen address (its port once it is known).
  let fallbackHost = hostForUrl(options.hostname);
  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    void serveOne(req, res, options, fallbackHost).catch(options.onError);
  });

  await new Promise<void>((resolve, reject) => {
    const failed = (error: Error & { code?: string }) => {
      server.off("listening", listening);
      reject(listenError(error, options.hostname, options.port));
    };
    const listening = () => {
      server.off("error", failed);
      resolve();
    };
    server.once("error", failed);
    server.once("listening", listening);
    server.listen({ host: options.hostname, port: options.port, exclusive: true });
  });
  server.on("error", options.onError);
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : options.port;
  fallbackHost = `${hostForUrl(options.hostname)}:${port}`;
  const finished = new Promise<void>((resolve) => server.once("close", () => resolve()));
  let stopping: Promise<void> | undefined;
  return {
    addr: { transport: "tcp", hostname: options.hostname, port },
    shutdown: () =>
      stopping ??= (() => {
        server.close();
        gate.close();
        return finished;
      })(),
    finished,
  };
}

function listenError(error: Error & { code?: string }, hostname: string, port: number): Error {
  const message = `${hostname}:${port}: ${error.message}`;
  if (error.code === "EADDRINUSE") return new Deno.errors.AddrInUse(message);
  if (error.code === "EADDRNOTAVAIL") return new Deno.errors.AddrNotAvailable(message);
  return error;
}

/** One request: the handler's Request built from `req`, its Response written to `res`. */
async function serveOne(
  req: IncomingMessage,
  res: ServerResponse,
  options: ListenOptions,
  fallbackHost: string,
): Promise<void> {
  const socket = req.socket;
  options.gate.requestStarted(socket);
  const aborted = new AbortController();
  res.once("close", () => {
    options.gate.requestEnded(socket);
    // The client went away before the whole response was sent (request.signal, as Deno.serve).
    if (!res.writableFinished) aborted.abort();
  });
  if (options.gate.closing) res.shouldKeepAlive = false;
  const body = new RequestBody(req);
  let request: Request;
  try {
    request = new Request(requestUrl(req, fallbackHost), {
      method: req.method,
      headers: headersOf(req),
      body: body.stream,
      signal: aborted.signal,
      // @ts-ignore: Deno's RequestInit takes duplex for a streamed body, the DOM types do not
      duplex: "half",
    });
  } catch {
    res.writeHead(400, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: "malformed request" }) + "\n");
    body.discardRest();
    return;
  }
  const remoteAddr: Deno.NetAddr = {
    transport: "tcp",
    hostname: plainAddress(socket.remoteAddress ?? ""),
    port: socket.remotePort ?? 0,
  };
  try {
    await writeResponse(req, res, await options.handler(request, { remoteAddr }));
  } catch (error) {
    // A header value node:http refuses (Headers allows more bytes than HTTP), say: the client
    // gets a 500 rather than a connection that never answers.
    options.onError(error);
    if (res.headersSent) {
      res.destroy();
    } else {
      for (const name of res.getHeaderNames()) res.removeHeader(name);
      res.writeHead(500, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: "internal error" }) + "\n");
    }
  }
  body.discardRest();
}

/**
 * The request body as a ReadableStream that reads from the socket only as fast as the handler
 * pulls (nothing is buffered beyond a chunk), or null for GET, HEAD and bodiless requests.
 */
class RequestBody {
  readonly stream: ReadableStream<Uint8Array> | null;
  #req: IncomingMessage;

  constructor(req: IncomingMessage) {
    this.#req = req;
    const method = req.method ?? "GET";
    const declared = req.headers["content-length"];
    const hasBody = req.headers["transfer-encoding"] !== undefined ||
      (declared !== undefined && declared !== "0");
    if (method === "GET" || method === "HEAD" || !hasBody) {
      this.stream = null;
      return;
    }
    req.pause();
    this.stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        req.on("data", (chunk: Uint8Array) => {
          controller.enqueue(chunk);
          if ((controller.desiredSize ?? 0) <= 0) req.pause();
        });
        req.once("end", () => controller.close());
        req.once("error", (error) => controller.error(error));
        req.once("close", () => {
          if (!this.complete) controller.error(new Error("the client closed the connection"));
        });
      },
      pull: () => {
        req.resume();
      },
      cancel: () => this.abandon(),
    }, { highWaterMark: 0 });
  }

  /** Whether the whole body has arrived (node:http then discards what nobody read). */
  get complete(): boolean {
    return this.#req.complete;
  }

  /** Reads no more of the body for the handler (it cancelled it at its limit, say). */
  abandon(): void {
    if (this.complete) return;
    this.#req.removeAllListeners("data");
    this.#req.pause();
  }

  /**
   * Once the answer is sent: the rest of a body nobody read is read and dropped, never kept, for
   * a moment, so that a client still sending it gets to read the answer (closing a connection
   * with unread data resets it, and the answer is lost); a body still coming after that loses
   * its connection.
   */
  discardRest(): void {
    if (this.complete) return;
    this.abandon();
    const socket = this.#req.socket;
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    const stop = () => clearTimeout(timer);
    this.#req.once("end", stop);
    socket.once("close", stop);
    this.#req.resume();
  }
}

/** How long the rest of a request body nobody reads is read and dropped after the answer. */
const LINGER_MS = 5000;

async function writeResponse(
  req: IncomingMessage,
  res: ServerResponse,
  response: Response,
): Promise<void> {
  // A value node:http refuses throws here, before anything is read or sent.
  response.headers.forEach((value, name) => {
    if (name !== "set-cookie") res.setHeader(name, value);
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) res.setHeader("set-cookie", cookies);
  const status = response.status;
  const noBody = req.method === "HEAD" || status === 204 || status === 304 || !response.body;
  if (noBody) {
    await response.body?.cancel().catch(() => {});
    res.writeHead(status);
    res.end();
    return;
  }
  const length = res.hasHeader("content-length")
    ? Number(res.getHeader("content-length"))
    : undefined;
  const reader = readerOf(response.body!, length);
  const cancel = () => void reader.cancel().catch(() => {});
  res.once("close", () => {
    if (!res.writableFinished) cancel();
  });
  const write = (chunk: Uint8Array) =>
    reader.reusesBuffer
      // The next read goes into the same buffer: this piece must be on its way first.
      ? sent(res, chunk)
      : res.write(chunk) || drained(res);
  try {
    let next = await reader.read();
    if (length === undefined) {
      // A body of one chunk (JSON, an error) gets a Content-Length instead of chunked encoding.
      const first = next;
      next = first.done ? first : await reader.read();
      if (next.done) {
        const bytes = first.value ?? new Uint8Array(0);
        res.setHeader("content-length", bytes.byteLength);
        res.writeHead(status);
        res.end(bytes);
        return;
      }
      res.writeHead(status);
      if (!await write(first.value!)) return cancel();
    } else {
      res.writeHead(status);
    }
    let left = length ?? Infinity;
    while (!next.done) {
      if (!await write(next.value)) return cancel();
      left -= next.value.byteLength;
      // A file is not read once more only to learn that it ended: cancelling closes it.
      if (left <= 0 && reader.reusesBuffer) {
        cancel();
        break;
      }
      next = await reader.read();
    }
    res.end();
  } catch (error) {
    // The body failed half-way (an upstream cut off): the client must see a broken response,
    // not a short one that looks complete.
    cancel();
    res.destroy(error as Error);
  }
}

/**
 * Reads a large byte stream (a file's, above all) in 256 KiB pieces into one buffer per response:
 * every chunk costs a read and a write through node:http's stream machinery, Deno's file streams
 * come in 64 KiB chunks, and a new buffer per chunk leaves the collector behind (RSS reached
 * 275 MB at 128 connections). Small bodies and other streams are read as they come.
 */
function readerOf(body: ReadableStream<Uint8Array>, length: number | undefined): {
  read(): Promise<ReadableStreamReadResult<Uint8Array>>;
  /** The next read overwrites what the last one returned. */
  reusesBuffer: boolean;
  cancel(): Promise<void>;
} {
  let byob: ReadableStreamBYOBReader | undefined;
  try {
    // A body of a chunk or two (most documents) is read as it comes: a BYOB reader costs more to
    // set up than it saves there.
    if (length !== undefined && length > SMALL_BODY) byob = body.getReader({ mode: "byob" });
  } catch {
    // not a byte stream
  }
  if (!byob) {
    const reader = body.getReader();
    return { read: () => reader.read(), reusesBuffer: false, cancel: () => reader.cancel() };
  }
  let buffer = new ArrayBuffer(Math.min(length!, READ_SIZE));
  return {
    read: async () => {
      const result = await byob.read(new Uint8Array(buffer));
      // The read hands the buffer back in its result (the one passed in is detached).
      if (result.value) buffer = result.value.buffer as ArrayBuffer;
      return result as ReadableStreamReadResult<Uint8Array>;
    },
    reusesBuffer: true,
    cancel: () => byob.cancel(),
  };
}

const READ_SIZE = 256 * 1024;
const SMALL_BODY = 64 * 1024;

/** Writes `chunk`; resolves true once node:http has handed it to the socket, false on failure. */
function sent(res: ServerResponse, chunk: Uint8Array): Promise<boolean> {
  return new Promise((resolve) => {
    const onClose = () => resolve(false);
    res.once("close", onClose);
    res.write(chunk, (error) => {
      res.off("close", onClose);
      resolve(!error);
    });
  });
}

/** Resolves true once `res` can take more, false when it closed first. */
function drained(res: ServerResponse): Promise<boolean> {
  if (res.destroyed) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (ok: boolean) => () => {
      res.off("drain", onDrain);
      res.off("close", onClose);
      resolve(ok);
    };
    const onDrain = done(true);
    const onClose = done(false);
    res.once("drain", onDrain);
    res.once("close", onClose);
  });
}

function headersOf(req: IncomingMessage): Headers {
  const headers = new Headers();
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i], raw[i + 1]);
  return headers;
}

const PLAIN_HOST = /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/;

/**
 * The URL the handler sees: the request target on the Host the client named when that is a plain
 * host[:port] (anything else could move the path into the authority), else the listen address.
 */
function requestUrl(req: IncomingMessage, fallbackHost: string): string {
  const target = req.url ?? "/";
  if (!target.startsWith("/")) {
    // Absolute form (proxy style): only http(s) URLs.
    const url = new URL(target);
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new TypeError("bad target");
    return url.href;
  }
  const host = req.headers.host;
  return `http://${host && PLAIN_HOST.test(host) ? host : fallbackHost}${target}`;
}

function hostForUrl(hostname: string): string {
  return hostname.includes(":") ? `[${hostname}]` : hostname;
}

/** An IPv4 client of a dual-stack socket shows as ::ffff:a.b.c.d; counters key it as a.b.c.d. */
function plainAddress(address: string): string {
  return address.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address;
}
