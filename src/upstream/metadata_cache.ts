// Freshness for upstream metadata (npm packuments, and later PyPI pages and cargo index files),
// shared by every ecosystem: a record is served from KV while younger than the TTL, then
// revalidated upstream with its ETag / Last-Modified. Upstreams that send no validators are
// revalidated by comparing the digest of what comes back, so an unchanged document is never
// re-processed. When the upstream is unreachable, the cached record is served as stale.
import { sha256Hex } from "../store/hashing.ts";
import { Coalescer } from "./coalescer.ts";
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
}

export type MetadataOutcome<R> =
  | { kind: "found"; record: R & Freshness; source: "cache" | "revalidated" | "fetched" }
  | { kind: "stale"; record: R & Freshness; warning: string }
  | { kind: "not-found" };

export interface MetadataRequest<R> {
  key: Deno.KvKey;
  url: string;
  headers?: HeadersInit;
  /** Turns a new upstream body into the ecosystem's record (storing blobs as it needs). */
  ingest(body: Uint8Array, headers: Headers): Promise<R>;
}

export class MetadataCache {
  readonly #coalescer = new Coalescer<MetadataOutcome<unknown>>();

  constructor(
    private readonly kv: Deno.Kv,
    private readonly upstream: UpstreamClient,
    private readonly ttlMs: number,
  ) {}

  async get<R>(request: MetadataRequest<R>): Promise<MetadataOutcome<R>> {
    const cached = (await this.kv.get<R & Freshness>(request.key)).value;
    if (cached && Date.now() - cached.checkedAt < this.ttlMs) {
      return { kind: "found", record: cached, source: "cache" };
    }
    const coalesceKey = JSON.stringify(request.key);
    return await this.#coalescer.run(
      coalesceKey,
      () => this.#refresh(request, cached),
    ) as MetadataOutcome<R>;
  }

  async #refresh<R>(
    request: MetadataRequest<R>,
    cached: (R & Freshness) | null,
  ): Promise<MetadataOutcome<R>> {
    const headers = new Headers(request.headers);
    if (cached?.etag) headers.set("if-none-match", cached.etag);
    if (cached?.lastModified) headers.set("if-modified-since", cached.lastModified);
    const now = Date.now();
    let body: Uint8Array;
    let responseHeaders: Headers;
    let validators: Pick<Freshness, "etag" | "lastModified">;
    try {
      const response = await this.upstream.request(request.url, { headers });
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
      const record = { ...cached, ...validators, checkedAt: now };
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
    };
    await this.kv.set(request.key, record);
    return { kind: "found", record, source: "fetched" };
  }
}
