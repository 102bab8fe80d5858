// HTTP-level behaviour of the npm routes, against the real public registry.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { rawGet, readBody, withRegistry } from "../support/registry.ts";

Deno.test("full and abbreviated packuments, with Vary, ETag/304, gzip and Content-Length", async () => {
  await withRegistry({}, async (registry) => {
    const url = `${registry.npmUrl}/is-number`;
    const full = await fetch(url, { headers: { accept: "application/json" } });
    assert.equal(full.headers.get("content-type"), "application/json");
    assert.match(full.headers.get("vary") ?? "", /Accept/);
    assert.ok(Number(full.headers.get("content-length")) > 0);
    const etag = full.headers.get("etag")!;
    assert.ok(etag);
    const fullDoc = await full.json();
    assert.ok(fullDoc.versions["7.0.0"].description, "full documents keep descriptions");

    const abbreviated = await fetch(url, {
      headers: { accept: "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8" },
    });
    assert.equal(abbreviated.headers.get("content-type"), "application/vnd.npm.install-v1+json");
    assert.notEqual(abbreviated.headers.get("etag"), etag);
    const abbreviatedDoc = await abbreviated.json();
    assert.equal(abbreviatedDoc.versions["7.0.0"].description, undefined);
    assert.equal(
      abbreviatedDoc.versions["7.0.0"].dist.integrity,
      fullDoc.versions["7.0.0"].dist.integrity,
    );

    const notModified = await fetch(url, {
      headers: { accept: "application/json", "if-none-match": etag },
    });
    assert.equal(notModified.status, 304);
    await notModified.body?.cancel();

    // The gzip copy is made in the background after the first request that accepts gzip.
    await fetch(url, { headers: { "accept-encoding": "gzip" } }).then((r) => r.arrayBuffer());
    let gzipped = await fetch(url, { headers: { "accept-encoding": "gzip" } });
    for (let i = 0; i < 50 && !gzipped.headers.has("content-encoding"); i++) {
      await gzipped.body?.cancel();
      await new Promise((resolve) => setTimeout(resolve, 20));
      gzipped = await fetch(url, { headers: { "accept-encoding": "gzip" } });
    }
    assert.equal(gzipped.headers.get("content-encoding"), "gzip");
    assert.deepEqual(await gzipped.json(), fullDoc); // fetch decodes gzip transparently
    assert.equal((await registry.counters()).upstreamRequests, 1);
  });
});

Deno.test("tarball URLs follow the Host the client used (host.docker.internal from a VM)", async () => {
  await withRegistry({}, async (registry) => {
    const response = await rawGet(registry.port, "/npm/is-number", {
      host: `host.docker.internal:${registry.port}`,
    });
    const doc = JSON.parse(response.body);
    assert.equal(
      doc.versions["7.0.0"].dist.tarball,
      `http://host.docker.internal:${registry.port}/npm/is-number/-/is-number-7.0.0.tgz`,
    );
    // A hostile Host header cannot inject into the document.
    const hostile = await rawGet(registry.port, "/npm/is-number", { host: `evil"},{"x` });
    const safe = JSON.parse(hostile.body);
    assert.equal(
      safe.versions["7.0.0"].dist.tarball,
      `${registry.npmUrl}/is-number/-/is-number-7.0.0.tgz`,
    );
  });
});

Deno.test("scoped packages in every spelling, and tarball bytes identical to upstream", async () => {
  await withRegistry({}, async (registry) => {
    const spellings = ["@types%2fnode", "@types%2Fnode", "@types/node"];
    const etags = new Set<string>();
    for (const spelling of spellings) {
      const response = await fetch(`${registry.npmUrl}/${spelling}`, {
        headers: { accept: "application/vnd.npm.install-v1+json" },
      });
      assert.equal(response.status, 200, spelling);
      etags.add(response.headers.get("etag")!);
      await response.body?.cancel();
    }
    assert.equal(etags.size, 1);

    const doc = await fetch(`${registry.npmUrl}/@types/node`, {
      headers: { accept: "application/vnd.npm.install-v1+json" },
    }).then((r) => r.json());
    const dist = doc.versions["20.17.10"].dist;
    const ours = await readBody(await fetch(dist.tarball));
    const theirs = await readBody(
      await fetch("https://registry.npmjs.org/@types/node/-/node-20.17.10.tgz"),
    );
    assert.deepEqual(ours, theirs);
    const sri = "sha512-" + createHash("sha512").update(ours).digest("base64");
    assert.equal(sri, dist.integrity);

    // Cached now: served from disk with an immutable validator, and 304 on revalidation.
    const again = await fetch(dist.tarball);
    const etag = again.headers.get("etag")!;
    assert.deepEqual(await readBody(again), ours);
    const revalidated = await fetch(dist.tarball, { headers: { "if-none-match": etag } });
    assert.equal(revalidated.status, 304);
    await revalidated.body?.cancel();
    const counters = await registry.counters();
    assert.equal(counters.cacheMisses, 2); // the packument and the tarball, once each
  });
});

Deno.test("version documents and HEAD", async () => {
  await withRegistry({}, async (registry) => {
    const latest = await fetch(`${registry.npmUrl}/is-number/latest`).then((r) => r.json());
    assert.equal(latest.version, "7.0.0");
    const missing = await fetch(`${registry.npmUrl}/is-number/99.0.0`);
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
    const head = await fetch(`${registry.npmUrl}/is-number`, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.ok(Number(head.headers.get("content-length")) > 1000);
    assert.equal((await head.arrayBuffer()).byteLength, 0);
  });
});

Deno.test("bad input gets a 4xx with a message and stores nothing", async () => {
  await withRegistry({}, async (registry) => {
    const before = (await registry.status()).cache.blobs;
    const cases: [string, RequestInit, number][] = [
      ["/npm/..%2f..%2fetc%2fpasswd", {}, 400],
      ["/npm/%2e%2e/x", {}, 404], // URL parsing resolves it to /x: outside every route
      ["/npm/.hidden", {}, 400],
      ["/npm/a/b/c/d", {}, 400],
      ["/npm/foo%00bar", {}, 400],
      [`/npm/${"x".repeat(300)}`, {}, 400],
      ["/npm/is-number/-/..%2f..%2fx.tgz", {}, 400],
      // Writes need the token before anything else is looked at; a method no route of the path
      // takes is refused before that (405, with Allow).
      ["/npm/is-number", { method: "PUT", body: "{}" }, 401],
      ["/npm/is-number/-rev/1-abc", { method: "DELETE" }, 401],
      ["/npm/is-number", { method: "DELETE" }, 405],
      ["/npm/is-number", { method: "POST", body: "{}" }, 405],
      ["/npm/-/whoami", {}, 401],
      ["/npm/-/npm/v1/search?text=x", {}, 404],
      ["/nope", {}, 404],
    ];
    for (const [path, init, status] of cases) {
      const response = await fetch(`${registry.url}${path}`, init);
      assert.equal(response.status, status, path);
      assert.equal(typeof (await response.json()).error, "string", path);
    }
    assert.equal((await registry.status()).cache.blobs, before);
    assert.equal((await registry.counters()).upstreamRequests, 0);
  });
});

Deno.test("health and status report the shape other tools read", async () => {
  await withRegistry({}, async (registry) => {
    const health = await fetch(`${registry.url}/-/health`);
    assert.equal(health.status, 200);
    assert.equal((await health.json()).pid, Deno.pid);
    const status = await fetch(`${registry.url}/-/status`).then((r) => r.json());
    assert.equal(typeof status.version, "string");
    assert.equal(typeof status.uptimeSeconds, "number");
    assert.deepEqual(Object.keys(status.ecosystems.npm).sort(), [
      "backgroundRequests",
      "cacheHits",
      "cacheMisses",
      "cachedBytes",
      "directBytes",
      "documents",
      "packages",
      "privatePackages",
      "requests",
      "servedBytes",
      "upstreamBytes",
      "upstreamRequests",
    ]);
    assert.equal(status.totals.savingRatio, null, "nothing served yet");
    assert.deepEqual(Object.keys(status.freshness).sort(), [
      "maxStaleSeconds",
      "offline",
      "ttlSeconds",
    ]);
  });
});

Deno.test("counters survive a restart", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "vm-pkg-restart-" });
  try {
    await withRegistry({ dataDir }, async (registry) => {
      await fetch(`${registry.npmUrl}/is-number`).then((r) => r.arrayBuffer());
    });
    await withRegistry({ dataDir }, async (registry) => {
      const counters = await registry.counters();
      assert.equal(counters.requests, 1);
      assert.equal(counters.upstreamRequests, 1);
      assert.equal(counters.documents, 1);
      assert.equal(counters.packages, 0, "no file of it is cached");
      // And the cached packument is served without going upstream again.
      await fetch(`${registry.npmUrl}/is-number`).then((r) => r.arrayBuffer());
      assert.equal((await registry.counters()).upstreamRequests, 1);
    });
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
