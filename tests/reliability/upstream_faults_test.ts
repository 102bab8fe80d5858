// Upstream faults in all three ecosystems, injected by the stand-in upstream: connection refused,
// reset mid-body, a 1 KB/s trickle, a truncated body, wrong bytes, 500s and an HTML error page
// where a document should be. Clients get a clear error or the cached data; afterwards every
// blob in the store is re-hashed and matches its name, and no temp file is left.
import assert from "node:assert/strict";
import { verifyStore } from "../../scripts/verify_store.ts";
import { readBody, tempFiles, type TestRegistry, withRegistry } from "../support/registry.ts";
import { type StandInUpstream, startStandInUpstream } from "../support/stand_in_upstream.ts";

const PIP_ACCEPT = "application/vnd.pypi.simple.v1+json";

interface Ecosystem {
  name: string;
  metadata(registry: TestRegistry, upstream: StandInUpstream): Request;
  file(registry: TestRegistry, upstream: StandInUpstream): string;
}

const ECOSYSTEMS: Ecosystem[] = [
  {
    name: "npm",
    metadata: (r, u) => new Request(`${r.npmUrl}/${u.name}`),
    file: (r, u) => `${r.npmUrl}/${u.name}/-/${u.filename}`,
  },
  {
    name: "pypi",
    metadata: (r, u) =>
      new Request(`${r.url}/pypi/simple/${u.name}/`, { headers: { accept: PIP_ACCEPT } }),
    file: (r, u) => `${r.url}/pypi/files/${u.name}/${u.filename}`,
  },
  {
    name: "cargo",
    metadata: (r, u) =>
      new Request(`${r.url}/cargo/index/${u.name.slice(0, 2)}/${u.name.slice(2, 4)}/${u.name}`),
    file: (r, u) => `${r.url}/cargo/api/v1/crates/${u.name}/${u.version}/download`,
  },
];

for (const ecosystem of ECOSYSTEMS) {
  Deno.test(`${ecosystem.name}: every upstream fault ends in a clear error or cached data`, async () => {
    // 6 KB, trickled at 1 KB/s: slow, but never idle long enough to time out.
    const upstream = startStandInUpstream({ size: 6 * 1024, trickleMs: 1000, trickleChunk: 1024 });
    const figures: string[] = [];
    try {
      await withRegistry({
        upstreams: {
          npm_upstream: upstream.url,
          pypi_upstream: `${upstream.url}/simple`,
          cargo_upstream: `${upstream.url}/index`,
          cargo_files_upstream: `${upstream.url}/crates`,
        },
        // Every request revalidates, and waits for it: each fault reaches the upstream and the
        // client sees what came of it.
        metadataTtlSeconds: 0,
        metadataMaxStaleSeconds: 0,
        timeouts: { headersMs: 1_500, idleMs: 1_500 },
      }, async (registry) => {
        const fileUrl = ecosystem.file(registry, upstream);
        const metadata = () => fetch(ecosystem.metadata(registry, upstream));

        // An HTML error page where the document should be, before anything is cached: 502.
        upstream.metadataFault = "html-error";
        const cold = await metadata();
        await cold.body?.cancel();
        assert.equal(cold.status, 502, "an error page is not a document");
        upstream.metadataFault = "none";
        const good = await metadata();
        assert.equal(good.status, 200);
        const goodBody = await good.text();

        // File faults: the client's body fails (or it gets 502), nothing is cached.
        for (const fault of ["corrupt", "truncated", "die-mid-stream", "500"] as const) {
          upstream.fault = fault;
          const outcome = await fetch(fileUrl).then(async (response) => {
            const bytes = await readBody(response);
            return response.status >= 500 ? "error status" : `${bytes.length} bytes`;
          }).catch(() => "cut off");
          assert.ok(outcome === "error status" || outcome === "cut off", `${fault}: ${outcome}`);
          figures.push(`${fault}: ${outcome}`);
        }
        // A trickle: slow but not idle, so it completes and verifies.
        upstream.fault = "trickle";
        const started = performance.now();
        assert.deepEqual(await readBody(await fetch(fileUrl)), upstream.tarball);
        figures.push(`trickle: ${((performance.now() - started) / 1000).toFixed(1)} s, verified`);

        // With everything cached: an HTML page on revalidation keeps the good document (stale).
        upstream.fault = "none";
        upstream.metadataFault = "html-error";
        const stale = await metadata();
        assert.equal(stale.status, 200);
        assert.match(stale.headers.get("warning") ?? "", /unusable document/);
        assert.equal(await stale.text(), goodBody);
        upstream.metadataFault = "none";

        // Connection refused: the upstream is gone; cached metadata and files are still served.
        await upstream.close();
        const offline = await metadata();
        assert.equal(offline.status, 200);
        assert.match(offline.headers.get("warning") ?? "", /stale/);
        await offline.body?.cancel();
        assert.deepEqual(await readBody(await fetch(fileUrl)), upstream.tarball);

        assert.deepEqual(await tempFiles(registry.dataDir), []);
        const report = await verifyStore(registry.dataDir);
        assert.equal(report.bad.length, 0, `corrupt blobs: ${report.bad.join(", ")}`);
        figures.push(`store: ${report.checked} blobs re-hashed, 0 bad`);
      });
    } finally {
      await upstream.close();
    }
    console.log(`${ecosystem.name} faults: ${figures.join("; ")}`);
  });
}
