// HTTP-level behaviour of the PyPI routes: against the real PyPI where no fault is needed, and
// against the stand-in upstream for faults and PEP 658 metadata files.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readBody, tempFiles, type TestRegistry, withRegistry } from "../support/registry.ts";
import { type StandInUpstream, startStandInUpstream } from "../support/stand_in_upstream.ts";

const PIP_ACCEPT =
  "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01";

async function pypiCounters(registry: TestRegistry) {
  return (await registry.status()).ecosystems.pypi;
}

Deno.test("project pages by content negotiation, with Vary, ETag/304 and redirects", async () => {
  await withRegistry({}, async (registry) => {
    const page = `${registry.url}/pypi/simple/six/`;
    const json = await fetch(page, { headers: { accept: PIP_ACCEPT } });
    assert.equal(json.headers.get("content-type"), "application/vnd.pypi.simple.v1+json");
    assert.match(json.headers.get("vary") ?? "", /Accept/);
    const etag = json.headers.get("etag")!;
    const doc = await json.json();
    assert.equal(doc.meta["api-version"], "1.1");
    assert.ok(doc.versions.includes("1.16.0"));
    const wheel = doc.files.find((f: { filename: string }) =>
      f.filename === "six-1.16.0-py2.py3-none-any.whl"
    );
    assert.equal(wheel.url, "../../files/six/six-1.16.0-py2.py3-none-any.whl");
    assert.match(wheel.hashes.sha256, /^[0-9a-f]{64}$/);
    assert.equal(typeof wheel.size, "number");
    assert.equal(typeof wheel["upload-time"], "string");

    const html = await fetch(page, { headers: { accept: "text/html" } });
    assert.equal(html.headers.get("content-type"), "text/html; charset=utf-8");
    assert.notEqual(html.headers.get("etag"), etag);
    const text = await html.text();
    assert.match(text, new RegExp(`six-1.16.0-py2.py3-none-any.whl#sha256=${wheel.hashes.sha256}`));

    const revalidated = await fetch(page, {
      headers: { accept: PIP_ACCEPT, "if-none-match": etag, "cache-control": "max-age=0" },
    });
    assert.equal(revalidated.status, 304);
    await revalidated.body?.cancel();

    for (const path of ["/pypi/simple/Six", "/pypi/simple/six", "/pypi/simple"]) {
      const redirect = await fetch(`${registry.url}${path}`, { redirect: "manual" });
      assert.equal(redirect.status, 301, path);
      await redirect.body?.cancel();
    }
    const unacceptable = await fetch(page, { headers: { accept: "application/xml" } });
    assert.equal(unacceptable.status, 406);
    await unacceptable.body?.cancel();

    // The file, byte-identical to the public one and verified by its sha256.
    const file = await readBody(await fetch(new URL(wheel.url, page)));
    assert.equal(createHash("sha256").update(file).digest("hex"), wheel.hashes.sha256);
    const missing = await fetch(`${registry.url}/pypi/simple/no-such-project-vm-test/`);
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
    const counters = await pypiCounters(registry);
    assert.equal(counters.cacheMisses, 2); // the six page and the wheel
  });
});

async function withStandIn(
  fn: (upstream: StandInUpstream, registry: TestRegistry) => Promise<void>,
  ttlSeconds = 300,
) {
  const upstream = startStandInUpstream({ size: 200_000 });
  try {
    await withRegistry({
      upstreams: {
        pypi_upstream: `${upstream.url}/simple`,
      },
      metadataTtlSeconds: ttlSeconds,
      // Past the TTL the client waits for the revalidation (the synchronous path).
      metadataMaxStaleSeconds: 0,
      timeouts: { headersMs: 2_000, idleMs: 2_000 },
    }, (registry) => fn(upstream, registry));
  } finally {
    await upstream.close();
  }
}

function fileUrl(registry: TestRegistry, upstream: StandInUpstream) {
  return `${registry.url}/pypi/files/${upstream.name}/${upstream.filename}`;
}

Deno.test("PEP 658 metadata files are served, verified and cached", async () => {
  await withStandIn(async (upstream, registry) => {
    const page = await fetch(`${registry.url}/pypi/simple/${upstream.name}/`, {
      headers: { accept: PIP_ACCEPT },
    }).then((r) => r.json());
    assert.ok(page.files[0]["core-metadata"].sha256);
    const metadata = await fetch(`${fileUrl(registry, upstream)}.metadata`);
    assert.equal(metadata.status, 200);
    assert.deepEqual(await readBody(metadata), upstream.metadataFile);
    const again = await fetch(`${fileUrl(registry, upstream)}.metadata`);
    assert.deepEqual(await readBody(again), upstream.metadataFile);
    assert.equal((await pypiCounters(registry)).cacheHits, 1);
  });
});

Deno.test("PyPI faults: corrupt, truncated, 404, 500 and a dead upstream", async () => {
  await withStandIn(async (upstream, registry) => {
    for (const fault of ["corrupt", "truncated", "die-mid-stream"] as const) {
      upstream.fault = fault;
      const response = await fetch(fileUrl(registry, upstream));
      await assert.rejects(readBody(response), Error, fault);
      assert.deepEqual(await tempFiles(registry.dataDir), [], fault);
    }
    upstream.fault = "404";
    const notFound = await fetch(fileUrl(registry, upstream));
    assert.equal(notFound.status, 502);
    assert.match((await notFound.json()).error, /answered 404/);
    const unlisted = await fetch(`${registry.url}/pypi/files/${upstream.name}/other-1.0.tar.gz`);
    assert.equal(unlisted.status, 404);
    await unlisted.body?.cancel();

    upstream.fault = "none";
    assert.deepEqual(await readBody(await fetch(fileUrl(registry, upstream))), upstream.tarball);
    const blobsBefore = (await registry.status()).cache.blobs;
    // Five file attempts; the page was only looked up internally, never requested by a client.
    assert.equal((await pypiCounters(registry)).cacheMisses, 5);
    assert.equal(upstream.tarballRequests, 5);
    await upstream.close();
    // Cached: still served with the upstream gone; never cached: a clear 502.
    assert.deepEqual(await readBody(await fetch(fileUrl(registry, upstream))), upstream.tarball);
    const never = await fetch(`${registry.url}/pypi/simple/never-cached/`);
    assert.equal(never.status, 502);
    assert.match((await never.json()).error, /not cached and the upstream is unavailable/);
    assert.equal((await registry.status()).cache.blobs, blobsBefore);
  });
});

Deno.test("a stale page is served when the upstream fails after the TTL", async () => {
  await withStandIn(async (upstream, registry) => {
    const page = `${registry.url}/pypi/simple/${upstream.name}/`;
    await fetch(page).then((r) => r.arrayBuffer());
    upstream.fault = "500";
    const stale = await fetch(page);
    assert.equal(stale.status, 200);
    assert.match(stale.headers.get("warning") ?? "", /stale/);
    assert.match(await stale.text(), new RegExp(upstream.filename));
    assert.equal(upstream.pageRequests, 2);
  }, 0);
});
