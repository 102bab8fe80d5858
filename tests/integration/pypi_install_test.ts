// The real pip and uv, through the real server, against the real PyPI.
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  hasPython,
  installUv,
  makeVenv,
  pipInstall,
  run,
  uvInstall,
} from "../support/python_clients.ts";
import { tempFiles, type TestRegistry, withRegistry } from "../support/registry.ts";

const pythonMissing = !(await hasPython());
if (pythonMissing) console.warn("skipping pip/uv tests: python3 with venv is not installed");

// Wheels (requests and its four dependencies, a platform wheel in markupsafe) and an
// sdist-only package (docopt), whose build pulls setuptools through the registry too.
const PACKAGES = ["requests==2.32.3", "packaging==24.2", "markupsafe==3.0.2", "docopt==0.6.2"];

async function pypiCounters(registry: TestRegistry) {
  return (await registry.status()).ecosystems.pypi;
}

async function assertInstalled(python: string) {
  const check = await run(python, [
    "-c",
    "import requests, packaging, markupsafe, docopt; print(requests.__version__, docopt.__version__)",
  ]);
  assert.equal(check.code, 0, check.stderr);
  assert.equal(check.stdout.trim(), "2.32.3 0.6.2");
}

Deno.test({
  name:
    "pip installs wheels and an sdist through the cache; a second install makes 0 upstream requests",
  ignore: pythonMissing,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "vm-pip-" });
    try {
      await withRegistry({}, async (registry) => {
        const index = `${registry.url}/pypi/simple/`;
        const first = await makeVenv(join(dir, "first"));
        const cold = await pipInstall(first, index, PACKAGES);
        assert.equal(cold.code, 0, cold.stderr);
        assert.match(cold.stdout, /Building wheel for docopt/);
        await assertInstalled(first);
        const afterCold = await pypiCounters(registry);
        assert.ok(afterCold.upstreamRequests >= 10, `${afterCold.upstreamRequests} upstream`);

        const second = await makeVenv(join(dir, "second"));
        const warm = await pipInstall(second, index, PACKAGES);
        assert.equal(warm.code, 0, warm.stderr);
        await assertInstalled(second);
        const afterWarm = await pypiCounters(registry);
        assert.equal(afterWarm.upstreamRequests, afterCold.upstreamRequests);
        assert.ok(afterWarm.cacheHits - afterCold.cacheHits >= 10);
        assert.deepEqual(await tempFiles(registry.dataDir), []);
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "uv installs through the cache; a second install makes 0 upstream requests",
  ignore: pythonMissing,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "vm-uv-" });
    try {
      const uv = await installUv(join(dir, "uv"));
      await withRegistry({}, async (registry) => {
        const index = `${registry.url}/pypi/simple/`;
        const first = await makeVenv(join(dir, "first"));
        const cold = await uvInstall(uv, first, index, PACKAGES);
        assert.equal(cold.code, 0, cold.stderr);
        await assertInstalled(first);
        const afterCold = await pypiCounters(registry);

        const second = await makeVenv(join(dir, "second"));
        const warm = await uvInstall(uv, second, index, PACKAGES);
        assert.equal(warm.code, 0, warm.stderr);
        await assertInstalled(second);
        const afterWarm = await pypiCounters(registry);
        assert.equal(afterWarm.upstreamRequests, afterCold.upstreamRequests);
        assert.ok(afterWarm.cacheHits > afterCold.cacheHits);
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
