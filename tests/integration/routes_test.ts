// The one route table, as a started server lists it (`GET /-/routes`) and `vm pkg routes` prints
// it: every ecosystem's routes and the server's own, in the order they match.
import assert from "node:assert/strict";
import { ECOSYSTEMS } from "../../src/registry/ecosystems.ts";
import type { ListedRoute } from "../../src/registry/route_table.ts";
import { runVm } from "../support/cli.ts";
import { withRegistry } from "../support/registry.ts";
import { routesOf } from "../support/routes.ts";

Deno.test("GET /-/routes on a started server lists every ecosystem's routes and its own", async () => {
  // Offline: listing asks no upstream, and nothing here may.
  await withRegistry({ offline: true }, async (registry) => {
    const response = await fetch(`${registry.url}/-/routes`);
    assert.equal(response.status, 200);
    const { routes } = await response.json() as { routes: ListedRoute[] };
    for (const ecosystem of ECOSYSTEMS) {
      const served = routes.filter((each) => each.ecosystem === ecosystem.id);
      assert.ok(served.length > 0, `${ecosystem.id} has routes`);
      // Exactly the routes the ecosystem's descriptor builds, in its order.
      assert.deepEqual(served, routesOf(ecosystem).list(), ecosystem.id);
      for (const each of served) {
        assert.ok(each.pattern.startsWith(ecosystem.prefix), `${each.pattern} is under its prefix`);
        assert.ok(each.description.length > 0, `${each.method} ${each.pattern} says what it does`);
      }
    }
    const own = routes.filter((each) => each.ecosystem === null).map((each) =>
      `${each.method} ${each.pattern}`
    );
    for (
      const expected of [
        "GET /-/health",
        "GET /-/status",
        "GET /-/clients",
        "POST /-/gc",
        "GET /-/routes",
        "GET /",
        "GET /-/packages",
        "GET /-/packages/cached",
        "PUT /-/packages/:type/:name+/claim",
        "DELETE /-/packages/:type/:name+",
      ]
    ) {
      assert.ok(own.includes(expected), expected);
    }
    // The test clock exists only where the server runs with one.
    assert.ok(!own.includes("POST /-/test/clock"));
    // Every route listed answers on its pattern: the listing is the table, not a copy of it.
    const head = await fetch(`${registry.url}/-/routes`, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal((await head.arrayBuffer()).byteLength, 0);
  });
});

Deno.test("vm pkg routes prints the table of a registry given by URL, or JSON", async () => {
  await withRegistry({ offline: true }, async (registry) => {
    const table = await runVm(["pkg", "routes", "--server", registry.url]);
    assert.equal(table.code, 0, table.stderr);
    const lines = table.stdout.trimEnd().split("\n");
    assert.match(lines[0], /^METHOD\s+PATTERN\s+ECOSYSTEM\s+DESCRIPTION$/);
    assert.ok(lines.some((line) => /^GET\s+\/cargo\/index\/:path\+\s+cargo\s+/.test(line)));
    assert.ok(lines.some((line) => /^GET\s+\/-\/status\s+-\s+/.test(line)));
    const json = await runVm(["pkg", "routes", "--server", registry.url, "--json"]);
    assert.equal(json.code, 0, json.stderr);
    const listed = JSON.parse(json.stdout) as ListedRoute[];
    const fromServer = await fetch(`${registry.url}/-/routes`).then((r) => r.json());
    assert.deepEqual(listed, fromServer.routes);
    assert.equal(lines.length, listed.length + 1, "one line per route and method");
  });
});
