// The real npm client, through the real server, against the real public npm registry.
import assert from "node:assert/strict";
import { join } from "node:path";
import { hasNpm, makeProject, runNpm } from "../support/npm_client.ts";
import { tempFiles, withRegistry } from "../support/registry.ts";

const npmMissing = !(await hasNpm());
if (npmMissing) console.warn("skipping npm install tests: the npm client is not installed");

// A real tree: express and its ~65 dependencies, a scoped package, and a package whose
// packument is large (typescript, ~20 MB full).
const DEPENDENCIES = {
  express: "4.21.2",
  "@types/node": "20.17.10",
  typescript: "5.7.2",
  semver: "7.6.3",
};

Deno.test({
  name: "npm installs a real tree through the cache; a second install makes 0 upstream requests",
  ignore: npmMissing,
  async fn() {
    await withRegistry({}, async (registry) => {
      const first = await makeProject(DEPENDENCIES);
      const second = await makeProject(DEPENDENCIES);
      try {
        const cold = await runNpm(["install", "--no-audit"], {
          cwd: first,
          registry: `${registry.npmUrl}/`,
          cache: join(first, ".npm-cache"),
        });
        assert.equal(cold.code, 0, cold.stderr);
        const afterCold = await registry.counters();
        assert.ok(afterCold.upstreamRequests > 60, `only ${afterCold.upstreamRequests} fetched`);
        assert.ok(afterCold.packages > 60);
        const installed = JSON.parse(
          await Deno.readTextFile(join(first, "node_modules", "express", "package.json")),
        );
        assert.equal(installed.version, "4.21.2");

        // The lockfile points at this server, built from the Host npm used.
        const lock = await Deno.readTextFile(join(first, "package-lock.json"));
        assert.match(lock, new RegExp(`${registry.npmUrl}/express/-/express-4\\.21\\.2\\.tgz`));
        assert.doesNotMatch(lock, /registry\.npmjs\.org/);

        const warm = await runNpm(["install", "--no-audit"], {
          cwd: second,
          registry: `${registry.npmUrl}/`,
          cache: join(second, ".npm-cache"), // empty: every byte must come from the server
        });
        assert.equal(warm.code, 0, warm.stderr);
        const afterWarm = await registry.counters();
        assert.equal(afterWarm.upstreamRequests, afterCold.upstreamRequests);
        assert.equal(afterWarm.upstreamBytes, afterCold.upstreamBytes);
        assert.ok(afterWarm.cacheHits - afterCold.cacheHits > 60);
        assert.deepEqual(await tempFiles(registry.dataDir), []);
      } finally {
        await Deno.remove(first, { recursive: true });
        await Deno.remove(second, { recursive: true });
      }
    });
  },
});

Deno.test({
  name: "npm's audit at the end of an install is forwarded and never breaks the install",
  ignore: npmMissing,
  async fn() {
    await withRegistry({}, async (registry) => {
      const project = await makeProject({ "is-number": "7.0.0" });
      try {
        const started = Date.now();
        const result = await runNpm(["install", "--audit"], {
          cwd: project,
          registry: `${registry.npmUrl}/`,
          cache: join(project, ".npm-cache"),
        });
        assert.equal(result.code, 0, result.stderr);
        assert.ok(Date.now() - started < 60_000, "audit stalled the install");
        // The upstream's answer (here the mirror's 405, or real advisories) came back unchanged:
        // a made-up "200 {}" would have printed "found 0 vulnerabilities".
        const audit = await fetch(`${registry.npmUrl}/-/npm/v1/security/advisories/bulk`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ "is-number": ["7.0.0"] }),
        });
        const direct = await fetch("https://registry.npmjs.org/-/npm/v1/security/advisories/bulk", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ "is-number": ["7.0.0"] }),
        });
        assert.equal(audit.status, direct.status);
        assert.equal(await audit.text(), await direct.text());
      } finally {
        await Deno.remove(project, { recursive: true });
      }
    });
  },
});

Deno.test({
  name: "npm ping answers through the registry",
  ignore: npmMissing,
  async fn() {
    await withRegistry({}, async (registry) => {
      const dir = await Deno.makeTempDir();
      try {
        const result = await runNpm(["ping", "--loglevel=notice"], {
          cwd: dir,
          registry: `${registry.npmUrl}/`,
          cache: join(dir, ".npm-cache"),
        });
        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stderr + result.stdout, /PONG/);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });
  },
});
