// How every ecosystem accounts for metadata lookups, and the error for bad upstream data (its
// answer is in dispatch.ts, with every other failure's).
import type { MetadataOutcome } from "../upstream/metadata_cache.ts";
import type { EcosystemContext } from "./context.ts";

/** A document fetched upstream is a miss; one served from the store (fresh, 304, stale) a hit. */
export function countMetadataOutcome(
  ctx: EcosystemContext,
  outcome: MetadataOutcome<unknown>,
): void {
  const fetched = outcome.kind === "found" && outcome.source === "fetched";
  ctx.stats.add(fetched ? "cacheMisses" : "cacheHits");
}

/** Errors whose message is safe and useful to show a client as it is (bad upstream data). */
export class UpstreamDataError extends Error {}
