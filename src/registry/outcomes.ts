// How every ecosystem accounts for metadata lookups and turns failures into one clear answer.
import { isDiskFull } from "../store/blob_store.ts";
import {
  OfflineError,
  UpstreamRefusedError,
  UpstreamStatusError,
  UpstreamUnavailableError,
} from "../upstream/errors.ts";
import type { MetadataOutcome } from "../upstream/metadata_cache.ts";
import type { EcosystemContext } from "./context.ts";
import { errorResponse } from "./http.ts";

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

export function failureResponse(ctx: EcosystemContext, what: string, error: unknown): Response {
  if (isDiskFull(error)) {
    ctx.log.error(`${what}: disk full, not stored: ${(error as Error).message}`);
    return errorResponse(
      507,
      `${what} cannot be stored: the registry's disk is full (no space left on device)`,
    );
  }
  if (error instanceof OfflineError) {
    return errorResponse(
      503,
      `${what} is not cached and the registry is offline (offline: true or --offline), ` +
        "so it does not ask the upstream",
    );
  }
  if (error instanceof UpstreamRefusedError) {
    // Logged where it was refused (the upstream client); the client is told what broke the rule.
    return errorResponse(502, `${what} is not served: ${error.message}`);
  }
  if (error instanceof UpstreamUnavailableError) {
    ctx.log.warn(`${what}: ${error.message}`);
    return errorResponse(
      502,
      `${what} is not cached and the upstream is unavailable (${error.message})`,
    );
  }
  if (error instanceof UpstreamStatusError) {
    return errorResponse(502, `${what}: ${error.message}`);
  }
  if (error instanceof UpstreamDataError) {
    ctx.log.warn(`${what}: ${error.message}`);
    return errorResponse(502, error.message);
  }
  ctx.log.error(`${what}: ${(error as Error).stack ?? error}`);
  return errorResponse(500, `internal error while serving ${what}`);
}
