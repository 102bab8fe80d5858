// What every request goes through, written once: the route table finds the route (or answers 404
// in the owner's words, or 405 with Allow); the owner counts the request; HEAD runs the GET route
// and drops the body; a thrown ClientError becomes its 4xx, an upstream failure its 502/503/507,
// anything else a 500; and every error answer takes the shape the owner's clients read. A route
// handler only says what to serve.
import { isDiskFull } from "../store/blob_store.ts";
import {
  OfflineError,
  UpstreamRefusedError,
  UpstreamStatusError,
  UpstreamUnavailableError,
} from "../upstream/errors.ts";
import { CountedResponse, ErrorResponse, errorResponse } from "./http.ts";
import type { Logger } from "./logger.ts";
import { UpstreamDataError } from "./outcomes.ts";
import { ClientError } from "./request_body.ts";
import type { RouteOwner, RouteTable } from "./route_table.ts";

export type Dispatcher = (request: Request, client: string) => Promise<Response>;

export function dispatcher(table: RouteTable, log: Logger): Dispatcher {
  return async (request, client) => {
    const url = new URL(request.url);
    const match = table.match(request.method, url.pathname);
    if (match.kind === "none") {
      await discardBody(request);
      const { status, message } = match.owner.unmatched?.(url.pathname) ??
        { status: 404, message: `no such route: ${url.pathname}` };
      return shaped(errorResponse(status, message), match.owner);
    }
    if (match.kind === "method") {
      await discardBody(request);
      const allow = match.allow.join(", ");
      return shaped(
        errorResponse(405, `${request.method} is not supported on ${url.pathname}`, { allow }),
        match.owner,
      );
    }
    const owner = match.entry.owner;
    owner.count?.();
    const head = request.method === "HEAD";
    let response: Response;
    try {
      // HEAD is the GET route's answer without its body: one code path, the same headers.
      const asRequested = head ? new Request(request, { method: "GET" }) : request;
      response = await match.route.handle(asRequested, { client, url });
    } catch (error) {
      if (error instanceof ClientError) await discardBody(request);
      response = failureResponse(log, match.route.subject ?? url.pathname, error);
    }
    response = shaped(response, owner);
    if (head) {
      await response.body?.cancel().catch(() => {});
      return new Response(null, { status: response.status, headers: response.headers });
    }
    if (response instanceof CountedResponse) response.countSent();
    return response;
  };
}

/** An error answer in the shape the owner's clients read (cargo's `errors[].detail`). */
function shaped(response: Response, owner: RouteOwner): Response {
  if (!(response instanceof ErrorResponse) || !owner.formatError) return response;
  return owner.formatError(response.status, response.message, new Headers(response.headersGiven));
}

/** A body nobody will read is not waited for (the listener drops what is still coming). */
async function discardBody(request: Request): Promise<void> {
  await request.body?.cancel().catch(() => {});
}

/** What a thrown error answers: the client's mistake, the upstream's failure, or ours. */
export function failureResponse(log: Logger, what: string, error: unknown): Response {
  if (error instanceof ClientError) return errorResponse(error.status, error.message);
  if (isDiskFull(error)) {
    log.error(`${what}: disk full, not stored: ${(error as Error).message}`);
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
    log.warn(`${what}: ${error.message}`);
    return errorResponse(
      502,
      `${what} is not cached and the upstream is unavailable (${error.message})`,
    );
  }
  if (error instanceof UpstreamStatusError) {
    return errorResponse(502, `${what}: ${error.message}`);
  }
  if (error instanceof UpstreamDataError) {
    log.warn(`${what}: ${error.message}`);
    return errorResponse(502, error.message);
  }
  log.error(`${what}: ${(error as Error).stack ?? error}`);
  return errorResponse(500, `internal error while serving ${what}`);
}
