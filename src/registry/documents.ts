// Serving a cached metadata document (packument, Simple API page, sparse-index file), the same
// for every ecosystem: the stored bytes rendered for the client's base URL, gzip when accepted,
// validators and 304, and a Warning header when the upstream could not confirm it.
import type { Freshness, MetadataOutcome } from "../upstream/metadata_cache.ts";
import type { PrivatePackage } from "../store/private_packages.ts";
import type { EcosystemContext } from "./context.ts";
import { acceptsGzip, errorResponse, etagMatches, fileResponse } from "./http.ts";
import { countMetadataOutcome } from "./outcomes.ts";

export interface DocumentResponse {
  /** The found (or stale) metadata outcome the document belongs to. */
  outcome: Exclude<MetadataOutcome<unknown>, { kind: "not-found" }>;
  digest: string;
  /** What replaces the base-URL placeholder; "" for documents without one. */
  baseUrl: string;
  contentType: string;
  cacheControl: string;
  vary: string;
  what: string;
}

export async function serveDocument(
  ctx: EcosystemContext,
  request: Request,
  doc: DocumentResponse,
): Promise<Response> {
  countMetadataOutcome(ctx, doc.outcome);
  const rendered = await ctx.rendered.get(doc.digest, doc.baseUrl, acceptsGzip(request));
  const record: Freshness = doc.outcome.record as Freshness;
  const headers: Record<string, string> = {
    "content-type": doc.contentType,
    "cache-control": doc.cacheControl,
    "last-modified": new Date(record.fetchedAt).toUTCString(),
    vary: doc.vary,
  };
  if (rendered.gzip) headers["content-encoding"] = "gzip";
  if (doc.outcome.kind === "stale") {
    headers.warning = `110 vm-pkg "stale: ${doc.outcome.warning.replaceAll('"', "'")}"`;
  }
  // If-Modified-Since only counts when the client sent no ETag (RFC 9110 §13.1.3).
  if (!request.headers.has("if-none-match") && notModifiedSince(request, record.fetchedAt)) {
    return new Response(null, { status: 304, headers: { ...headers, etag: rendered.etag } });
  }
  const fromUpstream = record.upstreamDigest !== "";
  const onBytes = (n: number) => {
    ctx.stats.add("servedBytes", n);
    // A client asking the upstream itself would have downloaded the upstream's document.
    if (fromUpstream) ctx.stats.add("directBytes", record.upstreamSize ?? n);
  };
  if (rendered.stream) {
    return streamedDocument(request, rendered.etag, () => rendered.stream!(onBytes), headers);
  }
  const response = await fileResponse(request, {
    path: rendered.path,
    bytes: rendered.bytes,
    etag: rendered.etag,
    headers,
    onBytes,
  });
  return response ?? errorResponse(500, `the stored document for ${doc.what} vanished`);
}

/**
 * A document rendered for this request's Host alone (not one of the server's names), too big to
 * render in memory: streamed without Content-Length.
 */
function streamedDocument(
  request: Request,
  etag: string,
  stream: () => ReadableStream<Uint8Array>,
  headers: Record<string, string>,
): Response {
  const out = new Headers(headers);
  out.set("etag", etag);
  if (etagMatches(request, etag)) return new Response(null, { status: 304, headers: out });
  return new Response(stream(), { status: 200, headers: out });
}

/**
 * The outcome serveDocument expects, for a document of a private package (never upstream, hence
 * no upstream digest: it saves nobody any upstream traffic).
 */
export function privateDocumentOutcome(
  pkg: PrivatePackage,
): Exclude<MetadataOutcome<unknown>, { kind: "not-found" }> {
  return {
    kind: "found",
    source: "cache",
    record: { fetchedAt: pkg.modifiedAt, checkedAt: pkg.modifiedAt, upstreamDigest: "" },
  };
}

function notModifiedSince(request: Request, fetchedAt: number): boolean {
  const since = Date.parse(request.headers.get("if-modified-since") ?? "");
  return Number.isFinite(since) && Math.floor(fetchedAt / 1000) * 1000 <= since;
}
