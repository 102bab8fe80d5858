// The upstreams' health as the last requests saw it: per configured upstream, when it last
// answered and when (and how) it last failed at the transport or HTTP level. Kept in memory only:
// it is a view of this process's traffic, not worth a KV write per request.
import type { Clock } from "../store/clock.ts";
import { systemClock } from "../store/clock.ts";

/** What the HTTP client tells: a response below 500, or a network, timeout, 5xx or refusal. */
export interface UpstreamHealthRecorder {
  succeeded(url: string): void;
  failed(url: string, message: string): void;
}

export interface UpstreamHealthFigures {
  url: string;
  lastSuccessAt: string | null;
  lastErrorAt: string | null;
  lastError: string | null;
}

const MAX_MESSAGE = 200;

export class UpstreamHealth implements UpstreamHealthRecorder {
  readonly #entries: Map<string, UpstreamHealthFigures>;
  readonly #clock: Clock;

  /** `upstreams`: the configured URLs by upstream name (what /-/status `upstreams` lists). */
  constructor(upstreams: Readonly<Record<string, string>>, clock: Clock = systemClock) {
    this.#clock = clock;
    this.#entries = new Map(
      Object.entries(upstreams).map(([name, url]) => [
        name,
        { url, lastSuccessAt: null, lastErrorAt: null, lastError: null },
      ]),
    );
  }

  succeeded(url: string): void {
    const entry = this.#entryFor(url);
    if (entry) entry.lastSuccessAt = this.#now();
  }

  failed(url: string, message: string): void {
    const entry = this.#entryFor(url);
    if (!entry) return;
    entry.lastErrorAt = this.#now();
    // One line, bounded: the message can quote what a hostile upstream sent.
    entry.lastError = message.replace(/\s+/g, " ").trim().slice(0, MAX_MESSAGE);
  }

  snapshot(): Record<string, UpstreamHealthFigures> {
    return Object.fromEntries([...this.#entries].map(([name, entry]) => [name, { ...entry }]));
  }

  /**
   * The upstream a request URL belongs to: the configured URL it starts with (the longest, as two
   * upstreams may share a host), else the first on its origin (a redirect, or a file URL an index
   * names). A URL on no configured origin belongs to none: nothing was sent there.
   */
  #entryFor(url: string): UpstreamHealthFigures | undefined {
    let best: UpstreamHealthFigures | undefined;
    for (const entry of this.#entries.values()) {
      if (url.startsWith(entry.url) && (!best || entry.url.length > best.url.length)) best = entry;
    }
    if (best) return best;
    const origin = URL.parse(url)?.origin;
    if (!origin) return undefined;
    for (const entry of this.#entries.values()) {
      if (URL.parse(entry.url)?.origin === origin) return entry;
    }
    return undefined;
  }

  #now(): string {
    return new Date(this.#clock.now()).toISOString();
  }
}
