// An ecosystem's routes in a route table of their own, without a server or a store: for tests of
// what its paths match. Only the routes' patterns and parameter parsers run; a handler that
// reached the (absent) store would fail, so only redirects are answered here.
import type { EcosystemContext } from "../../src/registry/context.ts";
import { type Ecosystem, upstreamUrls } from "../../src/registry/ecosystem.ts";
import { type Match, RouteTable } from "../../src/registry/route_table.ts";

/** Nothing in it: building a service only keeps references to the context. */
const NO_CONTEXT = {} as EcosystemContext;

export function routesOf(ecosystem: Ecosystem): RouteTable {
  const service = ecosystem.create(NO_CONTEXT, upstreamUrls(ecosystem));
  return new RouteTable().add(
    { ecosystem: ecosystem.id, prefix: ecosystem.prefix },
    service.routes,
  );
}

/** The pattern and parsed parameters of the route a request takes; undefined when none. */
export function matched(
  table: RouteTable,
  method: string,
  path: string,
): { pattern: string; params: unknown } | undefined {
  const match: Match = table.match(method, path);
  if (match.kind !== "found") return undefined;
  return { pattern: match.entry.route.pattern, params: match.route.params };
}

/** The answer of a route that needs nothing of the store (a redirect). */
export async function answer(table: RouteTable, method: string, path: string): Promise<Response> {
  const match = table.match(method, path);
  if (match.kind !== "found") throw new Error(`${method} ${path}: no route`);
  const url = new URL(`http://127.0.0.1${path}`);
  return await match.route.handle(new Request(url, { method }), { client: "127.0.0.1", url });
}
