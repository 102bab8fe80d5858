// The server's own routes, beside the ecosystems' in the one route table: health, status, the
// per-client figures, garbage collection, the route list itself, the index at `/`, and the test
// clock (only when the server runs with one). `/-/packages` is in private_admin.ts.
import type { AdjustableClock } from "../store/clock.ts";
import type { CacheLimit } from "../store/cache_limit.ts";
import { VERSION } from "../version.ts";
import type { WriteAuth } from "./auth.ts";
import type { Ecosystem } from "./ecosystem.ts";
import { errorResponse, jsonResponse } from "./http.ts";
import { wantsHtml } from "./dashboard/html.ts";
import { parseJsonBody, readLimitedBody } from "./request_body.ts";
import { type ListedRoute, type RequestInfo, type Route, route } from "./route_table.ts";
import { setupBaseUrl, setupScript } from "./setup_script.ts";
import type { ClientStats } from "./client_stats.ts";
import type { PrivateStatusField, RegistryStatus } from "./status.ts";

export interface ServerRouteDeps {
  auth: WriteAuth;
  cacheLimit: CacheLimit;
  clients: ClientStats;
  ecosystems: readonly Ecosystem[];
  status(): Promise<RegistryStatus>;
  /** The server's URL (known once it listens). */
  url(): string;
  routes(): ListedRoute[];
  testClock?: AdjustableClock;
  /** The dashboard's overview page, which `/` answers to browsers (dashboard/routes.ts). */
  overviewPage?(request: Request, info: RequestInfo): Promise<Response>;
}

/** The fields of the status only the host itself (loopback) and holders of the token get. */
const PRIVATE_FIELDS: readonly PrivateStatusField[] = [
  "pid",
  "dataDir",
  "upstreams",
  "upstreamHealth",
];

export function serverRoutes(deps: ServerRouteDeps): Route[] {
  const { auth } = deps;
  const routes = [
    route({
      method: "GET",
      pattern: "/-/health",
      description: "whether the registry answers (what clients and VM wrappers check)",
      handle: () => jsonResponse({ ok: true, version: VERSION, pid: Deno.pid }),
    }),
    route({
      method: "GET",
      pattern: "/-/status",
      description: "cache and traffic figures (paths, pid, upstreams: loopback or token only)",
      handle: async (request, _params, { client }) => {
        const full = await deps.status();
        if (auth.mayInspect(request, client)) return jsonResponse(full);
        const figures: Partial<RegistryStatus> = { ...full };
        for (const field of PRIVATE_FIELDS) delete figures[field];
        return jsonResponse(figures);
      },
    }),
    route({
      method: "GET",
      pattern: "/-/clients",
      description: "figures per client address (?address=); others' only to loopback or the token",
      // Per source address (a VM's container IP): what `vm status` shows as a VM's hit ratio.
      handle: (request, _params, { client, url }) => {
        const address = url.searchParams.get("address") ?? undefined;
        if (auth.mayInspect(request, client)) {
          return jsonResponse({ clients: deps.clients.snapshot(address) });
        }
        const own = address === undefined || address === client;
        return jsonResponse({ clients: own ? deps.clients.snapshot(client) : {} });
      },
    }),
    route({
      method: "POST",
      pattern: "/-/gc",
      description: "evict past the size limit and remove unreferenced blobs (token required)",
      handle: async (request) => auth.refusal(request) ?? jsonResponse(await deps.cacheLimit.gc()),
    }),
    route({
      method: "GET",
      pattern: "/-/routes",
      description: "this list: every route with its methods, owner and purpose",
      handle: () => jsonResponse({ routes: deps.routes() }),
    }),
    route({
      method: "GET",
      pattern: "/setup.sh",
      description: "a sh script that points this user's npm, pip, uv, cargo and go here (--undo)",
      // The address the request came in on, when the Host header is a plain host[:port].
      handle: (request) =>
        new Response(setupScript(setupBaseUrl(request.headers.get("host"), deps.url())), {
          headers: {
            "content-type": "text/x-shellscript; charset=utf-8",
            "cache-control": "no-store",
          },
        }),
    }),
    route({
      method: "GET",
      pattern: "/",
      description: "the dashboard to browsers; to scripts, where each ecosystem's clients point",
      handle: (request, _params, info) => {
        // A browser asks for text/html first; scripts and curl get the JSON index as before.
        if (deps.overviewPage && wantsHtml(request.headers.get("accept"))) {
          return deps.overviewPage(request, info);
        }
        const url = deps.url();
        // `/` is the dashboard or this index, by Accept: caches must tell them apart.
        return jsonResponse(
          {
            name: "vm pkg",
            version: VERSION,
            ...Object.fromEntries(deps.ecosystems.map((each) => [each.id, each.clientUrl(url)])),
          },
          200,
          { vary: "accept" },
        );
      },
    }),
  ];
  if (deps.testClock) {
    const clock = deps.testClock;
    routes.push(route({
      method: "POST",
      pattern: "/-/test/clock",
      description: 'move the test clock: {"advanceSeconds": N} (token required)',
      handle: (request) => advanceTestClock(request, clock, auth),
    }));
  }
  return routes;
}

/** `POST /-/test/clock` `{"advanceSeconds": N}`: moves a test clock forward (token required). */
async function advanceTestClock(
  request: Request,
  clock: AdjustableClock,
  auth: WriteAuth,
): Promise<Response> {
  const refused = auth.refusal(request);
  if (refused) return refused;
  // A few bytes of JSON: read with a limit, like every other body.
  const body = await readLimitedBody(request, 1024)
    .then((bytes) => parseJsonBody(bytes, "the clock body") as { advanceSeconds?: unknown })
    .catch(() => undefined);
  const seconds = body?.advanceSeconds;
  if (typeof seconds !== "number" || !Number.isFinite(seconds) || seconds < 0) {
    return errorResponse(400, 'expected {"advanceSeconds": <seconds, 0 or more>}');
  }
  clock.advance(seconds * 1000);
  return jsonResponse({ offsetSeconds: clock.offsetMs / 1000 });
}
