// The upstreams' health on a real started server: cargo's index upstream points at a closed
// loopback port, npm at registry.npmjs.org. A cargo index request fails and a real npm request
// succeeds; /-/status (loopback) tells both, the dashboard's Upstreams table shows the failure as
// text, and `vm pkg status` prints the one line about the failing upstream only.
import assert from "node:assert/strict";
import { escapeHtml } from "../../src/registry/dashboard/html.ts";
import type { RegistryStatus } from "../../src/registry/status.ts";
import { withRegistry } from "../support/registry.ts";
import { freePort, runVm } from "../support/cli.ts";

Deno.test("upstream health: a dead cargo upstream and a live npm one, in status, dashboard and CLI", async () => {
  const dead = `http://127.0.0.1:${freePort()}/`;
  await withRegistry({ upstreams: { cargo_upstream: dead } }, async (registry) => {
    const index = await fetch(`${registry.url}/cargo/index/it/oa/itoa`);
    await index.body?.cancel();
    assert.ok(index.status >= 500, `the cargo index request failed: ${index.status}`);
    const npm = await fetch(`${registry.url}/npm/ms`);
    await npm.body?.cancel();
    assert.equal(npm.status, 200);

    const status: RegistryStatus = await (await fetch(`${registry.url}/-/status`)).json();
    const cargo = status.upstreamHealth!.cargo;
    assert.equal(cargo.url, dead);
    assert.equal(cargo.lastSuccessAt, null);
    assert.ok(cargo.lastErrorAt, "the failure's time");
    assert.match(cargo.lastError!, /refused/i);
    const npmHealth = status.upstreamHealth!.npm;
    assert.ok(npmHealth.lastSuccessAt, "npm answered");
    assert.equal(npmHealth.lastErrorAt, null);

    const overview = await fetch(`${registry.url}/`, { headers: { accept: "text/html" } });
    const html = await overview.text();
    assert.ok(html.includes("last error"), "the Upstreams table has the column");
    assert.ok(html.includes(escapeHtml(`${cargo.lastErrorAt}: ${cargo.lastError}`)), html);
    assert.ok(html.includes(npmHealth.lastSuccessAt!));

    const cli = await runVm(["pkg", "status", "--server", registry.url]);
    assert.equal(cli.code, 0, cli.stderr);
    const lines = cli.stdout.split("\n").filter((line) => line.includes("Upstream errors:"));
    assert.equal(lines.length, 1, cli.stdout);
    assert.match(
      lines[0],
      new RegExp(
        `^  Upstream errors: cargo ${dead.replaceAll(".", "\\.")} — .*refused.*, \\d+s ago$`,
        "i",
      ),
    );
    assert.doesNotMatch(lines[0], /npm/);
  });
});
