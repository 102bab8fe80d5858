// Freshness for upstream metadata (npm packuments, PyPI pages, cargo index files), shared by every
// ecosystem. A record younger than the TTL is served from KV. Past the TTL it is still served at
// once while one background refresh per document revalidates it upstream (stale-while-
// revalidate): a VM created hours after the last one never waits for the upstream when the cache
// can answer. Only past the TTL plus `maxStale` does a client wait for the refresh. Revalidation
// uses the ETag / Last-Modified; upstreams that send no validators are revalidated by comparing the
// digest of what comes back, so an unchanged document is never re-processed. A refreshed copy
// replaces the cached one only once the ecosystem accepted it (ingest). When the upstream is
// unreachable, or the registry is offline, the cached record is served as stale.
import type { Clock } from "../store/clock.ts";
import { sha256Hex } from "../store/hashing.ts";
import { Coalescer } from "../store/coalescer.ts";
import { UpstreamStatusError, UpstreamUnavailableError } from "./errors.ts";
import type { UpstreamClient } from "./http_client.ts";

/** What every cached metadata record carries, whatever the ecosystem stores beside it. */
export interface Freshness {
  /** When the upstream document last changed (ms since epoch), as far as we know. */
  fetchedAt: number;
  /** When the upstream last confirmed this document (ms since epoch). */
  checkedAt: number;
  etag?: string;
  lastModified?: string;
  /** sha256 of the raw upstream body, to detect "unchanged" without validators. */
  upstreamDigest: string;
  /** Bytes of the raw upstream body: what a client fetching it from upstream would download. */
  upstreamSize?: number;
}

export type MetadataOutcome<R> =
  | {
    kind: "found";
    record: R & Freshness;
    /** "refreshing": served from the cache past the TTL while a background refresh runs. */
    source: "cache" | "refreshing" | "revalidated" | "fetched";
  }
  | { kind: "stale"; record: R & Freshness; warning: string }
  | { kind: "not-found" };

export interface MetadataRequest<R> {
  key: Deno.KvKey;
  url: string;
  headers?: HeadersInit;
  /** Turns a new upstream body into the ecosystem's record (storing blobs as it needs). */
  ingest(body: Uint8Array, headers: Headers): Promise<R>;
}

export interface FreshnessPolicy {
  ttlMs: number;
  /** How long past the TTL a record is served at once while it is refreshed in the background. */
  maxStaleMs: number;
  clock: Clock;
  /**
   * Runs a background refresh apart from the request that started it, so its upstream traffic is
   * not counted as that client's.
   */
  detach<T>(task: () => Promise<T>): Promise<T>;
  /** A background refresh failed; the cached record stays. */
  onBackgroundFailure(url: string, error: Error): void;
}

export class MetadataCache {
  readonly #coalescer = new Coalescer<MetadataOutcome<unknown>>();
  readonly #background = new Set<Promise<unknown>>();

  constructor(
    private readonly kv: Deno.Kv,
    private readonly upstream: UpstreamClient,
    private readonly policy: FreshnessPolicy,
  ) {}

  async get<R>(request: MetadataRequest<R>): Promise<MetadataOutcome<R>> {
    const cached = (await this.kv.get<R & Freshness>(request.key)).value;
    if (cached) {
      const age = this.policy.clock.now() - cached.checkedAt;
      if (age < this.policy.ttlMs) return { kind: "found", record: cached, source: "cache" };
      if (this.upstream.offline) {
        return { kind: "stale", record: cached, warning: "the registry is offline" };
      }
      if (age < this.policy.ttlMs + this.policy.maxStaleMs) {
        this.#refreshInBackground(request, cached);
        return { kind: "found", record: cached, source: "refreshing" };
      }
    }
    return await this.#coalesced(request, cached, false);
  }

  /** Resolves when no background refresh is running (graceful shutdown). */
  async idle(): Promise<void> {
    while (this.#background.size > 0) await Promise.allSettled([...this.#background]);
  }

  /** One refresh per document at a time, shared by every caller (foreground or background). */
  #coalesced<R>(
    request: MetadataRequest<R>,
    cached: (R & Freshness) | null,
    background: boolean,
  ): Promise<MetadataOutcome<R>> {
    return this.#coalescer.run(
      JSON.stringify(request.key),
      () => this.#refresh(request, cached, background),
    ) as Promise<MetadataOutcome<R>>;
  }

  #refreshInBackground<R>(request: MetadataRequest<R>, cached: R & Freshness): void {
    if (this.#coalescer.has(JSON.stringify(request.key))) return;
    const refresh = this.policy.detach(() => this.#coalesced(request, cached, true))
      .then((outcome) => {
        if (outcome.kind === "stale") {
          this.policy.onBackgroundFailure(request.url, new Error(outcome.warning));
        }
      }, (error) => this.policy.onBackgroundFailure(request.url, error as Error))
      .finally(() => this.#background.delete(refresh));
    this.#background.add(refresh);
  }

  async #refresh<R>(
    request: MetadataRequest<R>,
    cached: (R & Freshness) | null,
    background: boolean,
  ): Promise<MetadataOutcome<R>> {
    const headers = new Headers(request.headers);
    if (cached?.etag) headers.set("if-none-match", cached.etag);
    if (cached?.lastModified) headers.set("if-modified-since", cached.lastModified);
    const now = this.policy.clock.now();
    let body: Uint8Array;
    let responseHeaders: Headers;
    let validators: Pick<Freshness, "etag" | "lastModified">;
    try {
      const response = await this.upstream.request(request.url, { headers }, { background });
      if (response.status === 304 && cached) {
        await response.body.cancel();
        const record = { ...cached, checkedAt: now };
        await this.kv.set(request.key, record);
        return { kind: "found", record, source: "revalidated" };
      }
      if (response.status === 404 || response.status === 410) {
        await response.body.cancel();
        return { kind: "not-found" };
      }
      if (response.status !== 200) {
        await response.body.cancel();
        if (response.status >= 500 || response.status === 429) {
          throw new UpstreamUnavailableError(request.url, `answered ${response.status}`);
        }
        throw new UpstreamStatusError(request.url, response.status);
      }
      body = await this.upstream.readAll(request.url, response.body);
      responseHeaders = response.headers;
      validators = {
        etag: response.headers.get("etag") ?? undefined,
        lastModified: response.headers.get("last-modified") ?? undefined,
      };
    } catch (error) {
      if (cached && error instanceof UpstreamUnavailableError) {
        return { kind: "stale", record: cached, warning: error.message };
      }
      throw error;
    }

    const upstreamDigest = sha256Hex(body);
    if (cached && cached.upstreamDigest === upstreamDigest) {
      const record = { ...cached, ...validators, checkedAt: now, upstreamSize: body.byteLength };
      await this.kv.set(request.key, record);
      return { kind: "found", record, source: "revalidated" };
    }
    let data: R;
    try {
      data = await request.ingest(body, responseHeaders);
    } catch (error) {
      // A document the ecosystem cannot use (an HTML error page, broken JSON) never replaces a
      // good cached one: clients keep getting that, marked stale.
      if (cached) {
        return {
          kind: "stale",
          record: cached,
          warning: `upstream sent an unusable document (${(error as Error).message})`,
        };
      }
      throw error;
    }
    const record: R & Freshness = {
      ...data,
      ...validators,
      fetchedAt: now,
      checkedAt: now,
      upstreamDigest,
      upstreamSize: body.byteLength,
    };
    await this.kv.set(request.key, record);
    return { kind: "found", record, source: "fetched" };
  }
}
