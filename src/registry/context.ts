// The shared machinery one ecosystem needs; each ecosystem gets its own counters, upstream
// client and caches, built on the one store.
import type { BlobStore } from "../store/blob_store.ts";
import type { CacheLimit } from "../store/cache_limit.ts";
import type { Clock } from "../store/clock.ts";
import type { RenderedDocuments } from "../store/rendered_documents.ts";
import {
  UpstreamClient,
  type UpstreamLimits,
  type UpstreamTimeouts,
} from "../upstream/http_client.ts";
import type { UpstreamHealthRecorder } from "../upstream/health.ts";
import { MetadataCache } from "../upstream/metadata_cache.ts";
import { VerifiedDownloads } from "../upstream/verified_download.ts";
import type { WriteAuth } from "./auth.ts";
import type { Logger } from "./logger.ts";
import type { EcosystemStats, Stats } from "./stats.ts";

export interface SharedServices {
  kv: Deno.Kv;
  blobs: BlobStore;
  rendered: RenderedDocuments;
  stats: Stats;
  log: Logger;
  clock: Clock;
  metadataTtlMs: number;
  /** How long past the TTL metadata is served at once while refreshed in the background. */
  metadataMaxStaleMs: number;
  /** Never contact an upstream: serve only what is cached. */
  offline: boolean;
  timeouts: UpstreamTimeouts;
  /** How much of an upstream document or file is read at most. */
  limits: UpstreamLimits;
  /** Checks the write token on publish and delete routes. */
  auth: WriteAuth;
  /** Last use of public files, and eviction past the size limit. */
  cacheLimit: CacheLimit;
  /** host:port used in URLs when a request's Host header is unusable. */
  fallbackHost: string;
  /** Every upstream's last success and failure (`upstreamHealth` in /-/status). */
  health?: UpstreamHealthRecorder;
}

export interface EcosystemContext {
  name: string;
  kv: Deno.Kv;
  blobs: BlobStore;
  rendered: RenderedDocuments;
  stats: EcosystemStats;
  upstream: UpstreamClient;
  metadata: MetadataCache;
  downloads: VerifiedDownloads;
  log: Logger;
  clock: Clock;
  auth: WriteAuth;
  cacheLimit: CacheLimit;
  fallbackHost: string;
  /** How many KV records sit under a prefix (for `packages` in /-/status). */
  countRecords(prefix: Deno.KvKey): Promise<number>;
  /** Resolves when no download or background refresh of this ecosystem runs (shutdown). */
  idle(): Promise<void>;
}

/**
 * `upstreams`: the ecosystem's configured upstream URLs, the only places its requests (and the
 * redirects they meet) may go.
 */
export function ecosystemContext(
  shared: SharedServices,
  name: string,
  upstreams: readonly string[],
): EcosystemContext {
  const stats = shared.stats.for(name);
  const upstream = new UpstreamClient(stats, {
    upstreams,
    timeouts: shared.timeouts,
    offline: shared.offline,
    limits: shared.limits,
    onRefused: (error) => shared.log.warn(`${name}: refused ${error.message}`),
    health: shared.health,
  });
  const metadata = new MetadataCache(shared.kv, upstream, {
    ttlMs: shared.metadataTtlMs,
    maxStaleMs: shared.metadataMaxStaleMs,
    clock: shared.clock,
    detach: (task) => shared.stats.clients.detached(task),
    onBackgroundFailure: (url, error) =>
      shared.log.warn(
        `background refresh of ${url} failed, the cached copy stays: ${error.message}`,
      ),
  });
  const downloads = new VerifiedDownloads(shared.blobs, upstream);
  return {
    name,
    kv: shared.kv,
    blobs: shared.blobs,
    rendered: shared.rendered,
    stats,
    upstream,
    metadata,
    downloads,
    log: shared.log,
    clock: shared.clock,
    idle: async () => {
      await Promise.all([downloads.idle(), metadata.idle()]);
    },
    auth: shared.auth,
    cacheLimit: shared.cacheLimit,
    countRecords: async (prefix) => {
      let count = 0;
      for await (const _ of shared.kv.list({ prefix })) count++;
      return count;
    },
    // A getter: the port is only known once the server listens (port 0 in tests).
    get fallbackHost() {
      return shared.fallbackHost;
    },
  };
}
