// Failure paths of the npm cache, against a stand-in upstream that injects the fault.
import assert from "node:assert/strict";
import { type StandInUpstream, startStandInUpstream } from "../support/stand_in_upstream.ts";
import { readBody, tempFiles, type TestRegistry, withRegistry } from "../support/registry.ts";

async function withFaultyUpstream(
  options: { ttlSeconds?: number; size?: number; idleMs?: number; headersMs?: number },
  fn: (upstream: StandInUpstream, registry: TestRegistry) => Promise<void>,
) {
  const upstream = startStandInUpstream({ size: options.size });
  try {
    await withRegistry({
      upstreams: {
        npm_upstream: upstream.url,
      },
      metadataTtlSeconds: options.ttlSeconds ?? 300,
      // 0: past the TTL the client waits for the revalidation (the synchronous path these
      // tests exercise); stale-while-revalidate is tested in tests/unit/metadata_cache_test.ts.
      metadataMaxStaleSeconds: 0,
      timeouts: { headersMs: options.headersMs ?? 2_000, idleMs: options.idleMs ?? 2_000 },
    }, (registry) => fn(upstream, registry));
  } finally {
    await upstream.close();
  }
}

function tarballUrl(registry: TestRegistry, upstream: StandInUpstream) {
  return `${registry.npmUrl}/${upstream.name}/-/${upstream.filename}`;
}

Deno.test("a corrupt tarball fails the request and caches nothing", async () => {
  await withFaultyUpstream({}, async (upstream, registry) => {
    upstream.fault = "corrupt";
    const response = await fetch(tarballUrl(registry, upstream));
    assert.equal(response.status, 200); // streaming started before the digest could be known
    await assert.rejects(readBody(response));
    const { cache } = await registry.status();
    const before = cache.blobs;
    assert.deepEqual(await tempFiles(registry.dataDir), []);
    // Nothing was stored, so the next request goes upstream again and now succeeds.
    upstream.fault = "none";
    const again = await fetch(tarballUrl(registry, upstream));
    assert.deepEqual(await readBody(again), upstream.tarball);
    assert.equal(upstream.tarballRequests, 2);
    assert.equal((await registry.status()).cache.blobs, before + 1);
  });
});

Deno.test("an upstream dying mid-stream leaves nothing behind", async () => {
  await withFaultyUpstream({}, async (upstream, registry) => {
    upstream.fault = "die-mid-stream";
    const response = await fetch(tarballUrl(registry, upstream));
    await assert.rejects(readBody(response));
    assert.deepEqual(await tempFiles(registry.dataDir), []);
    upstream.fault = "none";
    assert.deepEqual(await readBody(await fetch(tarballUrl(registry, upstream))), upstream.tarball);
  });
});

Deno.test("an upstream 404 is a clear error; unknown files and packages are 404s", async () => {
  await withFaultyUpstream({}, async (upstream, registry) => {
    upstream.fault = "404";
    const response = await fetch(tarballUrl(registry, upstream));
    assert.equal(response.status, 502);
    assert.match((await response.json()).error, /answered 404/);
    const unknownFile = await fetch(`${registry.npmUrl}/${upstream.name}/-/nope-9.9.9.tgz`);
    assert.equal(unknownFile.status, 404);
    assert.match((await unknownFile.json()).error, /not a published file/);
    const unknownPackage = await fetch(`${registry.npmUrl}/no-such-package-here`);
    assert.equal(unknownPackage.status, 404);
    assert.match((await unknownPackage.json()).error, /not found upstream/);
  });
});

Deno.test("upstream 500s are a clear 502, never a stored file", async () => {
  await withFaultyUpstream({}, async (upstream, registry) => {
    upstream.fault = "500";
    const response = await fetch(tarballUrl(registry, upstream));
    assert.equal(response.status, 502);
    assert.match((await response.json()).error, /upstream is unavailable/);
    assert.equal((await registry.status()).cache.blobs, 3); // the packument's three documents
  });
});

Deno.test("a very slow upstream times out with a clear error", async () => {
  await withFaultyUpstream({ headersMs: 300 }, async (upstream, registry) => {
    upstream.fault = "slow-headers";
    const started = Date.now();
    const response = await fetch(tarballUrl(registry, upstream));
    assert.equal(response.status, 502);
    assert.match((await response.json()).error, /no response in time/);
    assert.ok(Date.now() - started < 4_000);
  });
});

Deno.test("a trickling upstream still delivers, verified, to every concurrent client", async () => {
  await withFaultyUpstream({ size: 160 * 1024 }, async (upstream, registry) => {
    upstream.fault = "trickle";
    const bodies = await Promise.all(
      Array.from({ length: 8 }, () => fetch(tarballUrl(registry, upstream)).then(readBody)),
    );
    for (const body of bodies) assert.deepEqual(body, upstream.tarball);
    assert.equal(upstream.tarballRequests, 1);
    const counters = await registry.counters();
    assert.equal(counters.servedBytes >= 8 * upstream.tarball.length, true);
  });
});

Deno.test("upstream down: cached metadata and tarballs are served with a warning", async () => {
  await withFaultyUpstream({ ttlSeconds: 0 }, async (upstream, registry) => {
    const packument = `${registry.npmUrl}/${upstream.name}`;
    assert.equal((await fetch(packument).then((r) => r.json())).name, upstream.name);
    await readBody(await fetch(tarballUrl(registry, upstream)));
    await upstream.close();

    const stale = await fetch(packument);
    assert.equal(stale.status, 200);
    assert.match(stale.headers.get("warning") ?? "", /stale/);
    assert.equal((await stale.json())["dist-tags"].latest, "1.0.0");
    const tarball = await fetch(tarballUrl(registry, upstream));
    assert.deepEqual(await readBody(tarball), upstream.tarball);

    const neverCached = await fetch(`${registry.npmUrl}/never-cached-package`);
    assert.equal(neverCached.status, 502);
    assert.match((await neverCached.json()).error, /not cached and the upstream is unavailable/);
  });
});

Deno.test("revalidation uses the ETag after the TTL, and detects changes without one", async () => {
  await withFaultyUpstream({ ttlSeconds: 0 }, async (upstream, registry) => {
    const packument = `${registry.npmUrl}/${upstream.name}`;
    await fetch(packument).then((r) => r.arrayBuffer());
    await fetch(packument).then((r) => r.arrayBuffer());
    assert.equal(upstream.conditionalRequests, 1); // the second one revalidated with If-None-Match

    upstream.sendEtag = false;
    upstream.description = "second";
    const changed = await fetch(packument).then((r) => r.json());
    assert.equal(changed.description, "second");
    const unchanged = await fetch(packument).then((r) => r.json());
    assert.equal(unchanged.description, "second");
    const counters = await registry.counters();
    assert.equal(counters.upstreamRequests, 4);
    assert.equal(counters.cacheMisses, 2); // first fetch and the changed document
  });
});

Deno.test("within the TTL metadata is served without asking upstream", async () => {
  await withFaultyUpstream({ ttlSeconds: 300 }, async (upstream, registry) => {
    const packument = `${registry.npmUrl}/${upstream.name}`;
    for (let i = 0; i < 5; i++) await fetch(packument).then((r) => r.arrayBuffer());
    assert.equal(upstream.packumentRequests, 1);
  });
});
