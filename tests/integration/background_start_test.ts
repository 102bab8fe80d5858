// The registry as users run it: started in the background by `vm pkg start`, with its settings
// from the config file, then used for days. Days pass through the server's test clock
// (VM_PKG_TEST_CLOCK=1, moved by POST /-/test/clock with the token), never by sleeping; the
// clients are the real npm, pip and cargo against the real public registries.
import assert from "node:assert/strict";
import { join } from "node:path";
import type { RegistryStatus } from "../../src/registry/server.ts";
import { freePort, runVm } from "../support/cli.ts";
import { hasCargo, runCargo, writeCrate } from "../support/cargo_client.ts";
import { cargoConfigToml } from "../../src/registry/cargo/client_config.ts";
import { hasNpm, runNpm } from "../support/npm_client.ts";
import { hasPython, makeVenv, pipInstall } from "../support/python_clients.ts";
import { withTempDir } from "../support/process.ts";

/** `vm` with its data dir and config file in `dir`, as a user's shell would run it. */
function vmIn(dir: string, extraEnv: Record<string, string> = {}) {
  const env = {
    VM_PKG_DATA: join(dir, "data"),
    VM_PKG_CONFIG: join(dir, "pkg.yaml"),
    ...extraEnv,
  };
  return async (...args: string[]) => {
    const result = await runVm(args, env);
    assert.equal(result.code, 0, `vm ${args.join(" ")}: ${result.stderr}`);
    return result.stdout;
  };
}

async function statusOf(url: string): Promise<RegistryStatus> {
  return await (await fetch(`${url}/-/status`)).json();
}

Deno.test("a background start runs with exactly the settings the config file and options give", async () => {
  await withTempDir(async (dir) => {
    const vm = vmIn(dir);
    const port = freePort();
    await Deno.writeTextFile(
      join(dir, "pkg.yaml"),
      [
        `port: ${port}`,
        "metadata_ttl: 1h",
        "metadata_max_stale: 12h",
        "max_cache_size: 10GB",
        "offline: true",
        "log_requests: true",
        "npm_upstream: http://127.0.0.1:9/npm-upstream",
        "",
      ].join("\n"),
    );
    const url = `http://127.0.0.1:${port}`;
    try {
      await vm("pkg", "start", "--no-config", "--no-bridge");
      const status = await statusOf(url);
      assert.equal(status.cache.limit, 10 * 1024 ** 3);
      assert.deepEqual(status.freshness, {
        ttlSeconds: 3600,
        maxStaleSeconds: 12 * 3600,
        offline: true,
      });
      assert.equal(status.upstreams.npm, "http://127.0.0.1:9/npm-upstream");
      await vm("pkg", "stop");

      // Options win over the file, and "unlimited" stays no limit all the way to the server.
      await vm(
        "pkg",
        "start",
        "--no-config",
        "--no-bridge",
        "--max-cache-size",
        "unlimited",
        "--no-offline",
        "--ttl",
        "90",
      );
      const overridden = await statusOf(url);
      assert.equal(overridden.cache.limit, null);
      assert.deepEqual(overridden.freshness, {
        ttlSeconds: 90,
        maxStaleSeconds: 12 * 3600,
        offline: false,
      });
    } finally {
      await vm("pkg", "stop");
    }
  });
});

const clients = await Promise.all([hasNpm(), hasPython(), hasCargo()]);
const missing = ["npm", "python3", "cargo"].filter((_, i) => !clients[i]);
if (missing.length) console.warn(`skipping the days-of-use test: no ${missing.join(", ")}`);

Deno.test({
  name: "days of use: past every TTL and grace period the cache answers installs with 0 upstream",
  ignore: missing.length > 0,
  async fn() {
    await withTempDir(async (dir) => {
      const vm = vmIn(dir, { VM_PKG_TEST_CLOCK: "1" });
      const port = freePort();
      const url = `http://127.0.0.1:${port}`;
      await Deno.writeTextFile(join(dir, "pkg.yaml"), `port: ${port}\n`);
      const token = async () => (await Deno.readTextFile(join(dir, "data", "token"))).trim();
      const daysPass = async (hours: number) => {
        const response = await fetch(`${url}/-/test/clock`, {
          method: "POST",
          headers: { authorization: `Bearer ${await token()}` },
          body: JSON.stringify({ advanceSeconds: hours * 3600 }),
        });
        assert.equal(response.status, 200, await response.text());
      };

      // One install per ecosystem, each with an empty client cache: what a new VM does.
      let round = 0;
      const npmInstall = async (spec: string) => {
        const project = join(dir, `npm-${++round}`);
        await Deno.mkdir(project);
        await Deno.writeTextFile(join(project, "package.json"), '{"name":"p","version":"1.0.0"}');
        const result = await runNpm(["install", "--no-audit", spec], {
          cwd: project,
          registry: `${url}/npm/`,
          cache: join(project, ".npm-cache"),
        });
        assert.equal(result.code, 0, result.stderr);
      };
      const pip = async (spec: string) => {
        const python = await makeVenv(join(dir, `venv-${++round}`));
        const result = await pipInstall(python, `${url}/pypi/simple/`, [spec]);
        assert.equal(result.code, 0, result.stderr);
      };
      const cargoFetch = async (dependency: string) => {
        const crate = join(dir, `crate-${++round}`);
        await writeCrate(crate, [
          "[package]",
          'name = "days"',
          'version = "0.1.0"',
          'edition = "2021"',
          "[dependencies]",
          dependency,
        ], { path: "src/main.rs", text: "fn main() {}\n" });
        const home = join(crate, ".cargo-home");
        await Deno.mkdir(home);
        await Deno.writeTextFile(join(home, "config.toml"), cargoConfigToml(url));
        const result = await runCargo(["fetch"], crate, {
          home,
          targetDir: join(crate, "target"),
        });
        assert.equal(result.code, 0, result.stderr);
      };
      const installFirst = async () => {
        await npmInstall("express@4.21.2");
        await pip("six==1.16.0");
        await cargoFetch('itoa = "=1.0.11"');
      };

      try {
        await vm("pkg", "start", "--no-config");
        await installFirst();
        const cached = (await statusOf(url)).totals;
        const listed = await vm("pkg", "list", "--cached", "--json");
        const packagesBefore = JSON.parse(listed).length;
        assert.ok(packagesBefore > 10, listed);

        // Hours later something else is installed (a new file enters the store), then the
        // registry restarts, and more time passes: every TTL, eviction grace and orphan age.
        await daysPass(6);
        await npmInstall("is-number@7.0.0");
        await vm("pkg", "stop");
        await vm("pkg", "start", "--no-config");
        await daysPass(30);
        const packagesAfter = JSON.parse(await vm("pkg", "list", "--cached", "--json")).length;
        assert.equal(packagesAfter, packagesBefore + 1, "nothing was evicted");

        // The next VM, a day and a half after the first, installs the same again.
        const before = (await statusOf(url)).totals;
        await installFirst();
        const after = (await statusOf(url)).totals;
        const criticalPath = (after.upstreamRequests - after.backgroundRequests) -
          (before.upstreamRequests - before.backgroundRequests);
        console.log(
          `days of use: first install ${cached.upstreamRequests} upstream requests; ` +
            `36 h later (restart between): ${after.cacheHits - before.cacheHits} hits, ` +
            `${after.cacheMisses - before.cacheMisses} misses, ${criticalPath} upstream requests ` +
            `on the clients' path, ${
              after.backgroundRequests - before.backgroundRequests
            } background refreshes`,
        );
        assert.equal(after.cacheMisses, before.cacheMisses, "every request was a cache hit");
        assert.equal(criticalPath, 0, "no client waited for the upstream");
        assert.ok(after.backgroundRequests > before.backgroundRequests, "documents were refreshed");
        // What status calls cached packages is what list --cached lists.
        const status = await statusOf(url);
        const counted = Object.values(status.ecosystems).reduce((n, e) => n + e.packages, 0);
        assert.equal(counted, packagesAfter);

        // Offline, a week on: the cache still installs, and nothing at all goes upstream; what
        // was never cached is a clear 503.
        await vm("pkg", "stop");
        await vm("pkg", "start", "--no-config", "--offline");
        await daysPass(7 * 24);
        const offlineBefore = (await statusOf(url)).totals;
        await installFirst();
        const offlineAfter = (await statusOf(url)).totals;
        assert.equal(offlineAfter.upstreamRequests, offlineBefore.upstreamRequests);
        const never = await fetch(`${url}/npm/left-pad`);
        assert.equal(never.status, 503);
        assert.match((await never.json()).error, /not cached and the registry is offline/);
      } finally {
        await vm("pkg", "stop");
      }
    });
  },
});
