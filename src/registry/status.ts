// What `GET /-/status` reports: `vm pkg status`, `vm status` and the tests read it.
import type { CacheUsage } from "../store/cache_limit.ts";
import type { ConnectionFigures } from "./listener.ts";
import type { EcosystemCounters } from "./counters.ts";
import type { UpstreamHealthFigures } from "../upstream/health.ts";

export interface RegistryStatus {
  version: string;
  pid: number;
  url: string;
  uptimeSeconds: number;
  dataDir: string;
  /** What counts against the limit: blobs, rendered documents and temp files (`bytes`, all). */
  cache: CacheUsage & { limit: number | null };
  /** Every ecosystem's counters summed, and the saving they add up to. */
  totals: EcosystemCounters & { savingRatio: number | null };
  /** The settings that decide what is served from where. */
  freshness: { ttlSeconds: number; maxStaleSeconds: number; offline: boolean };
  /** Where each ecosystem's documents and files come from. */
  upstreams: Record<string, string>;
  /**
   * Per upstream (same names): its URL, when it last answered (any status below 500) and when and
   * how it last failed (network, timeout, 5xx, refused redirect or body). Absent from older servers.
   */
  upstreamHealth?: Record<string, UpstreamHealthFigures>;
  /** Client connections (absent from a server older than the connection cap). */
  connections?: ConnectionFigures;
  ecosystems: Record<
    string,
    EcosystemCounters & {
      /** Public packages with files in the cache (what `vm pkg list --cached` lists). */
      packages: number;
      /** Bytes of those files. */
      cachedBytes: number;
      /** Cached metadata documents (packuments, project pages, index files). */
      documents: number;
      privatePackages: number;
    }
  >;
}

/** The fields of the status only the host itself (loopback) and holders of the token get. */
export type PrivateStatusField = "pid" | "dataDir" | "upstreams" | "upstreamHealth";

/**
 * What /-/status answers: all of RegistryStatus to the host and the token; any other client (a VM
 * on the Docker bridge, another host) gets the figures without the private fields.
 */
export type ReportedStatus =
  & Omit<RegistryStatus, PrivateStatusField>
  & Partial<Pick<RegistryStatus, PrivateStatusField>>;
