// The dashboard's routes on the registry's own port: `/` for browsers (server_routes.ts keeps the
// JSON index for scripts and hands browsers to `overview`), `/ui/packages`, a package page,
// `/ui/setup` and the stylesheet. Read-only: nothing here changes the registry. What a page shows
// is what the JSON routes would show this client: the private status fields and other clients'
// figures only to the host (loopback) and the token, as `/-/status` and `/-/clients` decide.
import type { WriteAuth } from "../auth.ts";
import type { ClientStats } from "../client_stats.ts";
import { findEcosystem } from "../ecosystem.ts";
import { baseUrlFor } from "../http.ts";
import type { AdminEcosystem } from "../private_admin.ts";
import { type RequestInfo, type Route, route } from "../route_table.ts";
import type { PrivateStatusField, RegistryStatus, ReportedStatus } from "../status.ts";
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
import { STYLESHEET } from "./layout.ts";
import { notFoundPage, overviewPage, packagePage, packagesPage, setupPage } from "./pages.ts";

export interface DashboardDeps {
  kv: Deno.Kv;
  auth: WriteAuth;
  clients: ClientStats;
  ecosystems: readonly AdminEcosystem[];
  status(): Promise<RegistryStatus>;
  /** The server's URL (known once it listens). */
  url(): string;
}

const PRIVATE_FIELDS: readonly PrivateStatusField[] = ["pid", "dataDir", "upstreams"];

export interface Dashboard {
  routes: Route[];
  /** The overview page, which `/` answers to browsers. */
  overview(request: Request, info: RequestInfo): Promise<Response>;
}

export function dashboard(deps: DashboardDeps): Dashboard {
  const ids = deps.ecosystems.map((each) => each.ecosystem.id);
  const fallbackHost = () => new URL(deps.url()).host;
  const baseUrl = (request: Request) => baseUrlFor(request, fallbackHost(), "");
  const catalog = new CatalogSnapshot(() => catalogEntries(deps.kv, deps.ecosystems));

  const overview = async (request: Request, { client }: RequestInfo) => {
    const full = await deps.status();
    const inspector = deps.auth.mayInspect(request, client);
    const status: ReportedStatus = { ...full };
    if (!inspector) { for (const field of PRIVATE_FIELDS) delete status[field]; }
    const clients = deps.clients.snapshot(inspector ? undefined : client);
    return htmlResponse(overviewPage({ status, clients, now: new Date() }));
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
      handle: async (_request, _params, { url }) => {
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
          packagesPage({ query, result: pageOf(entries, query), ecosystems: ids }),
        );
      },
    }),
    route({
      method: "GET",
      pattern: "/ui/packages/:type/:name+",
      description: "dashboard: one package's cached files, private versions and install snippets",
      handle: async (request, params) => {
        const admin = findAdmin(deps.ecosystems, params.type);
        let typed: string | undefined;
        try {
          typed = decodeURIComponent(params.name);
        } catch {
          typed = undefined;
        }
        if (!admin || !typed || typed.includes("\0")) {
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
  ];
  return { routes, overview };
}

function findAdmin(
  ecosystems: readonly AdminEcosystem[],
  type: string,
): AdminEcosystem | undefined {
  const ecosystem = findEcosystem(type, ecosystems.map((each) => each.ecosystem));
  return ecosystems.find((each) => each.ecosystem === ecosystem);
}
