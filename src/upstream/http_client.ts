// Every request the registry sends upstream goes through here, so that counting
// (upstreamRequests, upstreamBytes), timeouts, error classification and the rules for hostile
// upstreams live in one place: only the configured upstreams' origins are ever contacted
// (redirects included), and no body is read past its limit, decompressed or not.
import { concatBytes } from "../host/bytes.ts";
import { VERSION } from "../version.ts";
import { OfflineError, UpstreamRefusedError, UpstreamUnavailableError } from "./errors.ts";
import type { UpstreamHealthRecorder } from "./health.ts";
import { shortUrl, UpstreamOrigins } from "./origins.ts";

/** The counts this client keeps about the traffic it sends upstream. */
export type UpstreamCounterName = "upstreamRequests" | "backgroundRequests" | "upstreamBytes";

/**
 * Where those counts go: declared here, where they are made, so upstream/ needs nothing from the
 * registry above it; the registry's per-ecosystem stats (registry/stats.ts) implement it.
 */
export interface UpstreamCounters {
  add(name: UpstreamCounterName, amount?: number): void;
}

export interface UpstreamTimeouts {
  /** How long to wait for the response headers. */
  headersMs: number;
  /** How long the body may go without a single byte before the transfer is abandoned. */
  idleMs: number;
}

export const DEFAULT_TIMEOUTS: UpstreamTimeouts = { headersMs: 30_000, idleMs: 30_000 };

export interface UpstreamLimits {
  /** The largest metadata document read, counted after decompression (max_document_size). */
  maxDocumentBytes: number;
  /** The largest package file read when neither its Content-Length nor its index says less. */
  maxFileBytes: number;
}

const MiB = 1024 ** 2;
/**
 * The largest real packument (next, in full) is about 42 MB: 64 MiB leaves room for growth and
 * still stops a gzip bomb (713 KB inflating to 734 MB) long before memory runs out. The largest
 * files on the public registries are a few hundred MB; 2 GiB bounds a body that never ends.
 */
export const DEFAULT_LIMITS: UpstreamLimits = {
  maxDocumentBytes: 64 * MiB,
  maxFileBytes: 2048 * MiB,
};

/** Redirects followed per request, each only within the configured upstreams. */
export const MAX_REDIRECTS = 5;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const READ_BLOCK = MiB;

/** How many bytes of a body are read at most, and what that bound is called in the error. */
export interface BodyLimit {
  bytes: number;
  name: string;
}

export interface RequestOptions {
  /** No client waits for it (counted apart, as backgroundRequests). */
  background?: boolean;
  /** Default: max_document_size. */
  limit?: BodyLimit;
  /**
   * false: ask for the bytes as stored (`Accept-Encoding: identity`; Deno's fetch then leaves the
   * body as it is), for package files, whose digests are of those bytes. Default true: documents
   * may come compressed, and the limit counts them decompressed.
   */
  decompress?: boolean;
}

export interface UpstreamResponse {
  status: number;
  headers: Headers;
  /** The body, counted into upstreamBytes, bounded, and guarded by the idle timeout. */
  body: ReadableStream<Uint8Array>;
}

export interface UpstreamClientOptions {
  /** The ecosystem's configured upstream URLs: requests and redirects go only to their origins. */
  upstreams: readonly string[];
  timeouts?: UpstreamTimeouts;
  /** Offline: every request fails at once with OfflineError, and nothing leaves the host. */
  offline?: boolean;
  limits?: UpstreamLimits;
  /** Told of every URL, redirect or body refused (the server logs it). */
  onRefused?(error: UpstreamRefusedError): void;
  /** Told of every answer and every transport or HTTP failure (the upstreams' health). */
  health?: UpstreamHealthRecorder;
}

export class UpstreamClient {
  readonly offline: boolean;
  readonly limits: UpstreamLimits;
  readonly origins: UpstreamOrigins;
  /** URLs, redirects and bodies refused so far. */
  refusals = 0;
  readonly #timeouts: UpstreamTimeouts;
  readonly #onRefused: (error: UpstreamRefusedError) => void;
  readonly #health: UpstreamHealthRecorder | undefined;

  constructor(private readonly stats: UpstreamCounters, options: UpstreamClientOptions) {
    this.origins = new UpstreamOrigins(options.upstreams);
    this.offline = options.offline ?? false;
    this.limits = options.limits ?? DEFAULT_LIMITS;
    this.#timeouts = options.timeouts ?? DEFAULT_TIMEOUTS;
    this.#onRefused = options.onRefused ?? (() => {});
    this.#health = options.health;
  }

  /**
   * Sends one request upstream. Network failures and timeouts become UpstreamUnavailableError; a
   * URL or redirect outside the configured upstreams, or a body announced over its limit, an
   * UpstreamRefusedError before anything is read from it.
   */
  async request(
    url: string,
    init: RequestInit = {},
    { background = false, limit, decompress = true }: RequestOptions = {},
  ): Promise<UpstreamResponse> {
    if (this.offline) throw new OfflineError(url);
    if (!this.origins.allows(url)) {
      throw this.refuse(url, `${shortUrl(url)} is ${this.#outside()}; not fetched`);
    }
    const bound = limit ?? { bytes: this.limits.maxDocumentBytes, name: "max_document_size" };
    const controller = new AbortController();
    const headers = new Headers(init.headers);
    if (!headers.has("user-agent")) headers.set("user-agent", `vm-pkg/${VERSION}`);
    if (!decompress) headers.set("accept-encoding", "identity");
    if (background) this.stats.add("backgroundRequests");
    const headerTimer = setTimeout(() => controller.abort("timeout"), this.#timeouts.headersMs);
    const signal = init.signal
      ? AbortSignal.any([controller.signal, init.signal])
      : controller.signal;
    let response: Response;
    let current = url;
    try {
      let method = init.method ?? "GET";
      let body = init.body;
      for (let hops = 0;; hops++) {
        this.stats.add("upstreamRequests");
        response = await fetch(current, {
          ...init,
          method,
          body,
          headers,
          signal,
          redirect: "manual",
        });
        const location = REDIRECT_STATUSES.has(response.status)
          ? response.headers.get("location")
          : null;
        if (location === null) break;
        await response.body?.cancel();
        const target = URL.parse(location, current)?.href;
        if (!target || !this.origins.allows(target)) {
          throw this.refuse(
            current,
            `redirected to ${shortUrl(location)}, ${this.#outside()}; not followed`,
          );
        }
        if (hops >= MAX_REDIRECTS) {
          throw this.refuse(url, `more than ${MAX_REDIRECTS} redirects; not followed`);
        }
        // As fetch would: 303, and 301/302 after a POST, continue as a GET without the body.
        if (response.status === 303 || (response.status <= 302 && method === "POST")) {
          method = "GET";
          body = undefined;
          headers.delete("content-type");
        }
        current = target;
      }
    } catch (error) {
      if (error instanceof UpstreamRefusedError) throw error;
      // A client that went away aborts its request: that says nothing about the upstream.
      if (init.signal?.aborted && !controller.signal.aborted) {
        throw new UpstreamUnavailableError(current, "no response in time");
      }
      const reason = controller.signal.aborted
        ? "no response in time"
        : describeNetworkError(error);
      this.#health?.failed(current, reason);
      throw new UpstreamUnavailableError(current, reason);
    } finally {
      clearTimeout(headerTimer);
    }
    // A 404 is an answer (the upstream works); a 5xx is the upstream failing.
    if (response.status >= 500) this.#health?.failed(current, `answered ${response.status}`);
    else this.#health?.succeeded(current);
    const body = response.body ?? new ReadableStream({ start: (c) => c.close() });
    // The Content-Length bounds what is read unless fetch decompresses the body (it is then the
    // compressed size only); the limit bounds it either way.
    const encoding = response.headers.get("content-encoding")?.trim().toLowerCase();
    const compressed = decompress && encoding !== undefined && encoding !== "identity";
    const declared = compressed ? undefined : contentLength(response.headers);
    if (declared !== undefined && declared > bound.bytes) {
      await body.cancel();
      throw this.refuse(
        current,
        `announces a body of ${declared} bytes, over ${bound.name} (${bound.bytes} bytes); not read`,
      );
    }
    return {
      status: response.status,
      headers: response.headers,
      body: this.#guard(current, body, controller, bound, declared),
    };
  }

  /**
   * Reads a whole (metadata-sized, hence bounded) body into memory. The chunks are copied into
   * 1 MiB blocks as they arrive: fetch hands out small views (4 KiB when it decompresses) of much
   * larger buffers, and keeping the views kept the buffers: 64 MiB of them held 760 MB.
   */
  async readAll(url: string, body: ReadableStream<Uint8Array>): Promise<Uint8Array<ArrayBuffer>> {
    const blocks: Uint8Array[] = [];
    let block = new Uint8Array(READ_BLOCK);
    let used = 0;
    try {
      for await (const chunk of body) {
        for (let offset = 0; offset < chunk.byteLength;) {
          if (used === block.byteLength) {
            blocks.push(block);
            block = new Uint8Array(READ_BLOCK);
            used = 0;
          }
          const n = Math.min(chunk.byteLength - offset, block.byteLength - used);
          block.set(chunk.subarray(offset, offset + n), used);
          used += n;
          offset += n;
        }
      }
    } catch (error) {
      if (error instanceof UpstreamUnavailableError) throw error;
      throw new UpstreamUnavailableError(url, `transfer failed: ${describeNetworkError(error)}`);
    }
    blocks.push(block.subarray(0, used));
    return concatBytes(blocks);
  }

  #outside(): string {
    return `outside the configured upstreams (${this.origins.list().join(", ")})`;
  }

  /** An UpstreamRefusedError for `url`, counted and told (logged): throw it. */
  refuse(url: string, reason: string): UpstreamRefusedError {
    const error = new UpstreamRefusedError(url, reason);
    this.refusals++;
    this.#onRefused(error);
    this.#health?.failed(url, reason);
    return error;
  }

  /**
   * Counts bytes, stops the transfer at the body's bound (its Content-Length, else the limit) as
   * the bytes arrive, and aborts it when the upstream stalls for longer than idleMs.
   */
  #guard(
    url: string,
    body: ReadableStream<Uint8Array>,
    controller: AbortController,
    limit: BodyLimit,
    declared: number | undefined,
  ): ReadableStream<Uint8Array> {
    const reader = body.getReader();
    const stats = this.stats;
    const idleMs = this.#timeouts.idleMs;
    const refuse = (reason: string) => this.refuse(url, reason);
    const health = this.#health;
    let received = 0;
    let stalled = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    // One timer per pending read (no promise race per chunk: bodies arrive in thousands of chunks).
    const armed = <T>(read: Promise<T>): Promise<T> => {
      timer = setTimeout(() => {
        stalled = true;
        controller.abort("stalled");
      }, idleMs);
      return read.finally(() => clearTimeout(timer));
    };
    const stop = async (out: ReadableStreamDefaultController<Uint8Array>, error: Error) => {
      await reader.cancel().catch(() => {});
      controller.abort("stopped");
      out.error(error);
    };
    return new ReadableStream<Uint8Array>({
      async pull(out) {
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await armed(reader.read());
        } catch (error) {
          const reason = stalled
            ? `no data for ${idleMs / 1000}s`
            : `transfer failed: ${describeNetworkError(error)}`;
          health?.failed(url, reason);
          await stop(out, new UpstreamUnavailableError(url, reason));
          return;
        }
        if (chunk.done) {
          out.close();
          return;
        }
        received += chunk.value.byteLength;
        if (declared !== undefined && received > declared) {
          await stop(
            out,
            refuse(`sent more than its Content-Length of ${declared} bytes; transfer stopped`),
          );
          return;
        }
        if (received > limit.bytes) {
          await stop(
            out,
            refuse(`body over ${limit.name} (${limit.bytes} bytes); transfer stopped`),
          );
          return;
        }
        stats.add("upstreamBytes", chunk.value.byteLength);
        out.enqueue(chunk.value);
      },
      async cancel(reason) {
        clearTimeout(timer);
        await reader.cancel(reason).catch(() => {});
      },
    });
  }
}

/** The Content-Length header as a number, when there is a valid one. */
function contentLength(headers: Headers): number | undefined {
  const text = headers.get("content-length");
  return text !== null && /^\d+$/.test(text.trim()) ? Number(text) : undefined;
}

function describeNetworkError(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as Error & { cause?: unknown }).cause;
    const message = cause instanceof Error ? cause.message : error.message;
    return message.replace(/\s+/g, " ").slice(0, 200);
  }
  return String(error);
}
