// Every request the registry sends upstream goes through here, so that counting
// (upstreamRequests, upstreamBytes), timeouts and error classification live in one place.
import type { EcosystemStats } from "../registry/stats.ts";
import { VERSION } from "../version.ts";
import { OfflineError, UpstreamUnavailableError } from "./errors.ts";

export interface UpstreamTimeouts {
  /** How long to wait for the response headers. */
  headersMs: number;
  /** How long the body may go without a single byte before the transfer is abandoned. */
  idleMs: number;
}

export const DEFAULT_TIMEOUTS: UpstreamTimeouts = { headersMs: 30_000, idleMs: 30_000 };

export interface UpstreamResponse {
  status: number;
  headers: Headers;
  /** The body, counted into upstreamBytes and guarded by the idle timeout. */
  body: ReadableStream<Uint8Array>;
}

export class UpstreamClient {
  constructor(
    private readonly stats: EcosystemStats,
    private readonly timeouts: UpstreamTimeouts = DEFAULT_TIMEOUTS,
    /** Offline: every request fails at once with OfflineError, and nothing leaves the host. */
    readonly offline = false,
  ) {}

  /**
   * Sends one request upstream. Network failures and timeouts become UpstreamUnavailableError.
   * `background`: no client waits for it (counted apart, as backgroundRequests).
   */
  async request(
    url: string,
    init: RequestInit = {},
    { background = false } = {},
  ): Promise<UpstreamResponse> {
    if (this.offline) throw new OfflineError(url);
    const controller = new AbortController();
    const headers = new Headers(init.headers);
    if (!headers.has("user-agent")) headers.set("user-agent", `vm-pkg/${VERSION}`);
    this.stats.add("upstreamRequests");
    if (background) this.stats.add("backgroundRequests");
    const headerTimer = setTimeout(() => controller.abort("timeout"), this.timeouts.headersMs);
    let response: Response;
    try {
      const signal = init.signal
        ? AbortSignal.any([controller.signal, init.signal])
        : controller.signal;
      response = await fetch(url, { ...init, headers, signal });
    } catch (error) {
      const reason = controller.signal.aborted || init.signal?.aborted
        ? "no response in time"
        : describeNetworkError(error);
      throw new UpstreamUnavailableError(url, reason);
    } finally {
      clearTimeout(headerTimer);
    }
    const body = response.body ?? new ReadableStream({ start: (c) => c.close() });
    return {
      status: response.status,
      headers: response.headers,
      body: this.#guard(url, body, controller),
    };
  }

  /** Reads a whole (metadata-sized) body into memory. */
  async readAll(url: string, body: ReadableStream<Uint8Array>): Promise<Uint8Array<ArrayBuffer>> {
    const chunks: Uint8Array[] = [];
    let total = 0;
    try {
      for await (const chunk of body) {
        chunks.push(chunk);
        total += chunk.byteLength;
      }
    } catch (error) {
      if (error instanceof UpstreamUnavailableError) throw error;
      throw new UpstreamUnavailableError(url, `transfer failed: ${describeNetworkError(error)}`);
    }
    const out = new Uint8Array(total);
    let offset = 0;
    for (const chunk of chunks) {
      out.set(chunk, offset);
      offset += chunk.byteLength;
    }
    return out;
  }

  /** Counts bytes and aborts the transfer when the upstream stalls for longer than idleMs. */
  #guard(
    url: string,
    body: ReadableStream<Uint8Array>,
    controller: AbortController,
  ): ReadableStream<Uint8Array> {
    const reader = body.getReader();
    const stats = this.stats;
    const idleMs = this.timeouts.idleMs;
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
    return new ReadableStream<Uint8Array>({
      async pull(out) {
        try {
          const { done, value } = await armed(reader.read());
          if (done) {
            out.close();
            return;
          }
          stats.add("upstreamBytes", value.byteLength);
          out.enqueue(value);
        } catch (error) {
          await reader.cancel().catch(() => {});
          out.error(
            new UpstreamUnavailableError(
              url,
              stalled
                ? `no data for ${idleMs / 1000}s`
                : `transfer failed: ${describeNetworkError(error)}`,
            ),
          );
        }
      },
      async cancel(reason) {
        clearTimeout(timer);
        await reader.cancel(reason).catch(() => {});
      },
    });
  }
}

function describeNetworkError(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as Error & { cause?: unknown }).cause;
    const message = cause instanceof Error ? cause.message : error.message;
    return message.replace(/\s+/g, " ").slice(0, 200);
  }
  return String(error);
}
