// The dashboard's routes on the registry's own port: `/` for browsers (server_routes.ts keeps the
// JSON index for scripts and hands browsers to `overview`), `/ui/packages`, a package page,
// `/ui/setup` and the stylesheet. Read-only: nothing here changes the registry. What a page shows
// is what the JSON routes would show this client: the private status fields and other clients'
// figures only to the host (loopback) and the token, as `/-/status` and `/-/clients` decide.
import type { WriteAuth } from "../auth.ts";
import type { ClientStats } from "../client_stats.ts";
import { findEcosystem } from "../ecosystem.ts";
import { baseUrlFor } from "../http.ts";
import type { AdminEcosystem, PrivateAdmin } from "../private_admin.ts";
import { ErrorResponse } from "../http.ts";
import { type RequestInfo, type Route, route } from "../route_table.ts";
import type { PrivateStatusField, RegistryStatus, ReportedStatus } from "../status.ts";
import { hourlyTraffic, type TrafficSample } from "../traffic_history.ts";
import {
  cachedFilesOf,
  catalogEntries,
  CatalogSnapshot,
  MAX_QUERY,
  type PackageKind,
  pageOf,
  privatePackage,
} from "./catalog.ts";
import { htmlResponse } from "./html.ts";
import {
  backPath,
  endSession,
  fromOwnPage,
  readForm,
  signedIn,
  startSession,
  tokenIsRight,
} from "./session.ts";
import { resultPage } from "./write_forms.ts";
import { STYLESHEET } from "./layout.ts";
import {
  notFoundPage,
  overviewPage,
  packageHref,
  packagePage,
  packagesPage,
  setupPage,
} from "./pages.ts";

export interface DashboardDeps {
  kv: Deno.Kv;
  auth: WriteAuth;
  clients: ClientStats;
  ecosystems: readonly AdminEcosystem[];
  /** Where the write forms' removals and claims go: the rules of `/-/packages`. */
  privateAdmin: PrivateAdmin;
  status(): Promise<RegistryStatus>;
  /** The kept hourly totals, for the overview's chart (traffic_history.ts). */
  traffic?(): Promise<TrafficSample[]>;
  /** The server's URL (known once it listens). */
  url(): string;
}

const PRIVATE_FIELDS: readonly PrivateStatusField[] = [
  "pid",
  "dataDir",
  "upstreams",
  "upstreamHealth",
];

export interface Dashboard {
  routes: Route[];
  /** The overview page, which `/` answers to browsers. */
  overview(request: Request, info: RequestInfo): Promise<Response>;
}

export function dashboard(deps: DashboardDeps): Dashboard {
  const ids = deps.ecosystems.map((each) => each.ecosystem.id);
  const privateTypes = deps.ecosystems.filter((each) => each.service.privates)
    .map((each) => each.ecosystem.id);
  const fallbackHost = () => new URL(deps.url()).host;
  const baseUrl = (request: Request) => baseUrlFor(request, fallbackHost(), "");
  const catalog = new CatalogSnapshot(() => catalogEntries(deps.kv, deps.ecosystems));

  const overview = async (request: Request, { client }: RequestInfo) => {
    const full = await deps.status();
    const inspector = deps.auth.mayInspect(request, client);
    const status: ReportedStatus = { ...full };
    if (!inspector) { for (const field of PRIVATE_FIELDS) delete status[field]; }
    const clients = deps.clients.snapshot(inspector ? undefined : client);
    const hours = deps.traffic ? hourlyTraffic(await deps.traffic()) : undefined;
    return htmlResponse(overviewPage({ status, clients, now: new Date(), hours }));
  };

  const routes = [
    route({
      method: "GET",
      pattern: "/ui/style.css",
      description: "the dashboard's stylesheet",
      handle: () =>
        new Response(STYLESHEET, {
          headers: {
            "content-type": "text/css; charset=utf-8",
            "x-content-type-options": "nosniff",
            "cache-control": "public, max-age=300",
          },
        }),
    }),
    route({
      method: "GET",
      pattern: "/ui/packages",
      description: "dashboard: search cached and private packages (?q=&type=&kind=&page=)",
      handle: async (request, _params, { url }) => {
        const search = url.searchParams;
        const typeGiven = search.get("type") ?? "";
        const type = typeGiven
          ? findEcosystem(typeGiven, deps.ecosystems.map((each) => each.ecosystem))?.id
          : undefined;
        const kindGiven = search.get("kind") ?? "";
        const kind = kindGiven === "cached" || kindGiven === "private"
          ? kindGiven as PackageKind
          : undefined;
        const query = {
          q: (search.get("q") ?? "").slice(0, MAX_QUERY),
          type,
          kind,
          page: Number(search.get("page") ?? "1"),
        };
        if (typeGiven && !type) {
          return htmlResponse(notFoundPage(`No ecosystem is called ${typeGiven}.`), 404);
        }
        const entries = await catalog.entries();
        return htmlResponse(
          packagesPage({
            query,
            result: pageOf(entries, query),
            ecosystems: ids,
            privateTypes,
            signedIn: signedIn(deps.auth, request),
          }),
        );
      },
    }),
    route({
      method: "GET",
      pattern: "/ui/packages/:type/:name+",
      description: "dashboard: one package's cached files, private versions and install snippets",
      handle: async (request, params) => {
        const admin = findAdmin(deps.ecosystems, params.type);
        const typed = decodedName(params.name);
        if (!admin || !typed) {
          return htmlResponse(notFoundPage("No such ecosystem or package name."), 404);
        }
        const name = admin.service.canonicalName ? admin.service.canonicalName(typed) : typed;
        if (!name) {
          return htmlResponse(
            notFoundPage(`Not a valid ${admin.ecosystem.id} name: ${typed}`),
            404,
          );
        }
        const [cached, privates] = await Promise.all([
          cachedFilesOf(deps.kv, admin, name),
          privatePackage(admin, name),
        ]);
        if (cached.length === 0 && !privates) {
          return htmlResponse(
            notFoundPage(`${name} is neither cached nor private in ${admin.ecosystem.id}.`),
            404,
          );
        }
        return htmlResponse(packagePage({
          ecosystem: admin.ecosystem,
          name,
          cached,
          private: privates,
          baseUrl: baseUrl(request),
          signedIn: signedIn(deps.auth, request),
        }));
      },
    }),
    route({
      method: "GET",
      pattern: "/ui/setup",
      description: "dashboard: how to point each client at this registry, from the host and a VM",
      handle: (request) => {
        const port = new URL(deps.url()).port || "80";
        return htmlResponse(setupPage({
          ecosystems: deps.ecosystems.map((each) => each.ecosystem),
          hostBaseUrl: baseUrl(request),
          vmBaseUrl: `http://host.docker.internal:${port}`,
        }));
      },
    }),
    ...writeRoutes(deps, () => catalog.invalidate()),
  ];
  return { routes, overview };
}

/** A name from the path (one segment or a scope and a name); undefined when malformed. */
function decodedName(raw: string): string | undefined {
  try {
    const name = decodeURIComponent(raw);
    return name && !name.includes("\0") ? name : undefined;
  } catch {
    return undefined;
  }
}

const seeOther = (location: string, cookie?: string) =>
  new Response(null, {
    status: 303,
    headers: { location, "cache-control": "no-store", ...(cookie ? { "set-cookie": cookie } : {}) },
  });

/**
 * The write forms: sign in and out, remove, claim. Every one must come from a page of this server
 * (Origin), and removing and claiming need the token in the session (session.ts); they do what
 * `/-/packages` does, with its answers shown as a page.
 */
function writeRoutes(deps: DashboardDeps, changed: () => void): Route[] {
  /** The refusal page, or undefined when the request may write. */
  const refusal = (request: Request, back: string, needsToken: boolean) => {
    if (!fromOwnPage(request)) {
      return htmlResponse(
        resultPage("Refused", "This form must be sent from this registry's own pages.", back),
        403,
      );
    }
    if (needsToken && !signedIn(deps.auth, request)) {
      return htmlResponse(
        resultPage("Refused", "Writes need the registry's token (see `vm pkg token`).", back),
        401,
      );
    }
    return undefined;
  };
  /** A `/-/packages` answer as a page: back to `done` on success, its message on an error. */
  const outcome = async (response: Response, done: string, back: string) => {
    if (response.ok) {
      changed();
      return seeOther(done);
    }
    const message = response instanceof ErrorResponse
      ? response.message
      : `${response.status} ${await response.text()}`;
    return htmlResponse(resultPage("Not done", message, back), response.status);
  };
  return [
    route({
      method: "POST",
      pattern: "/ui/session",
      description: "dashboard: keep the write token in this browser's session (form)",
      handle: async (request) => {
        const form = await readForm(request);
        const back = backPath(form?.get("back") ?? null);
        const refused = refusal(request, back, false);
        if (refused) return refused;
        const token = form?.get("token")?.trim() ?? "";
        if (!token || !tokenIsRight(deps.auth, token)) {
          return htmlResponse(
            resultPage("Not signed in", "The write token is wrong (see `vm pkg token`).", back),
            401,
          );
        }
        return seeOther(back, startSession(token));
      },
    }),
    route({
      method: "POST",
      pattern: "/ui/session/end",
      description: "dashboard: forget the write token (form)",
      handle: async (request) => {
        const back = backPath((await readForm(request))?.get("back") ?? null);
        return refusal(request, back, false) ?? seeOther(back, endSession());
      },
    }),
    route({
      method: "POST",
      pattern: "/ui/packages/:type/:name+/remove",
      description: "dashboard: remove a private package or ?version (form; token in the session)",
      handle: async (request, params) => {
        const name = decodedName(params.name) ?? "";
        const here = packageHref(params.type, name);
        const form = await readForm(request);
        const refused = refusal(request, here, true);
        if (refused) return refused;
        const version = form?.get("version") || null;
        const reopen = form?.get("reopen") === "true";
        const answer = await deps.privateAdmin.removeNamed(params.type, name, version, reopen);
        return outcome(
          answer,
          reopen && version === null ? "/ui/packages?kind=private" : here,
          here,
        );
      },
    }),
    route({
      method: "POST",
      pattern: "/ui/claim",
      description:
        "dashboard: make a name private before a native publish (form; token in the session)",
      handle: async (request) => {
        const form = await readForm(request);
        const back = "/ui/packages?kind=private";
        const refused = refusal(request, back, true);
        if (refused) return refused;
        const type = form?.get("type") ?? "";
        const name = form?.get("name")?.trim() ?? "";
        const answer = await deps.privateAdmin.claimNamed(type, name);
        if (!answer.ok) return outcome(answer, back, back);
        changed();
        const claimed = (await answer.json()) as { type: string; name: string };
        return seeOther(packageHref(claimed.type, claimed.name));
      },
    }),
  ];
}

function findAdmin(
  ecosystems: readonly AdminEcosystem[],
  type: string,
): AdminEcosystem | undefined {
  const ecosystem = findEcosystem(type, ecosystems.map((each) => each.ecosystem));
  return ecosystems.find((each) => each.ecosystem === ecosystem);
}
