// Go modules against a hostile module proxy (a stand-in on loopback): files the checksum database
// contradicts, forged checksum records, zip bombs, modules the database does not know, and
// hostile module paths from clients. Nothing contradicted or unverifiable is ever stored.
import assert from "node:assert/strict";
import { join } from "node:path";
import { buildZip } from "../support/go_zip.ts";
import { type GoStandIn, startGoStandIn, UUID_LOOKUP } from "../support/go_stand_in.ts";
import { hasProgram, runProcess } from "../support/process.ts";
import {
  rawGet,
  readBody,
  tempFiles,
  type TestRegistry,
  withRegistry,
} from "../support/registry.ts";

const UUID = "github.com/google/uuid";
const LOOKUP_PATH = `/sumdb/sum.golang.org/lookup/${UUID}@v1.6.0`;
const ZIP_PATH = `/${UUID}/@v/v1.6.0.zip`;
const MOD_PATH = `/${UUID}/@v/v1.6.0.mod`;

async function withStandIn(fn: (upstream: GoStandIn, registry: TestRegistry) => Promise<void>) {
  const upstream = startGoStandIn();
  try {
    await withRegistry({
      upstreams: { go_upstream: upstream.url },
      timeouts: { headersMs: 2_000, idleMs: 2_000 },
    }, (registry) => fn(upstream, registry));
  } finally {
    await upstream.close();
  }
}

async function goStatus(registry: TestRegistry) {
  return (await registry.status()).ecosystems.go;
}

/** A zip with the right names for uuid v1.6.0 and the wrong contents. */
function impostorZip(): Promise<Uint8Array> {
  return buildZip([
    { name: `${UUID}@v1.6.0/go.mod`, data: `module ${UUID}\n` },
    { name: `${UUID}@v1.6.0/uuid.go`, data: "package uuid\n\nfunc init() { panic(1) }\n" },
  ]);
}

Deno.test("a .zip or .mod the checksum database contradicts is a 502 and never stored", async () => {
  await withStandIn(async (upstream, registry) => {
    upstream.routes.set(LOOKUP_PATH, { body: UUID_LOOKUP });
    upstream.routes.set(ZIP_PATH, { body: await impostorZip() });
    upstream.routes.set(MOD_PATH, { body: `module ${UUID}\n\ngo 1.99\n` });
    upstream.routes.set(`/${UUID}/@v/v1.6.0.info`, { body: '{"Version":"v1.6.0"}' });

    for (const path of [ZIP_PATH, MOD_PATH, ZIP_PATH]) {
      const response = await fetch(`${registry.url}/go${path}`);
      assert.equal(response.status, 502, path);
      assert.equal(response.headers.get("content-type"), "text/plain; charset=utf-8");
      const message = await response.text();
      assert.match(message, /hashes to h1:.*, but sum\.golang\.org has h1:/, path);
      assert.match(message, /contradicts it; not stored, not served/);
    }
    // Asked again, fetched again: nothing was kept.
    assert.equal(upstream.requests.get(ZIP_PATH), 2);
    const status = await goStatus(registry);
    assert.equal(status.packages, 0);
    assert.equal(status.cachedBytes, 0);
    assert.deepEqual(await tempFiles(registry.dataDir), []);

    // The go command sees the reason.
    if (await hasProgram("go", ["version"])) {
      const gopath = await Deno.makeTempDir({ prefix: "vm-go-fault-" });
      try {
        const result = await runProcess("go", ["mod", "download", "-json", `${UUID}@v1.6.0`], {
          cwd: gopath,
          env: {
            GOPATH: gopath,
            GOMODCACHE: join(gopath, "mod"),
            GOFLAGS: "-modcacherw",
            GOTOOLCHAIN: "local",
            GOENV: "off",
            GOPROXY: `${registry.url}/go`,
            GOSUMDB: "off",
          },
        });
        assert.notEqual(result.code, 0);
        assert.match(result.stdout, /502 Bad Gateway/);
        assert.match(result.stdout, /the checksum database contradicts it/);
      } finally {
        await Deno.remove(gopath, { recursive: true });
      }
    }

    // The real zip (from the real proxy), served next: checked, stored, served from then on.
    const real = await readBody(await fetch(`https://proxy.golang.org${ZIP_PATH}`));
    upstream.routes.set(ZIP_PATH, { body: real });
    assert.deepEqual(await readBody(await fetch(`${registry.url}/go${ZIP_PATH}`)), real);
    const requests = upstream.requests.get(ZIP_PATH);
    assert.deepEqual(await readBody(await fetch(`${registry.url}/go${ZIP_PATH}`)), real);
    assert.equal(upstream.requests.get(ZIP_PATH), requests);
    assert.equal((await goStatus(registry)).packages, 1);
  });
});

Deno.test("a forged checksum record is refused, and no file is checked against it", async () => {
  await withStandIn(async (upstream, registry) => {
    // The record altered, the signature kept: the tree head no longer verifies.
    upstream.routes.set(LOOKUP_PATH, { body: UUID_LOOKUP.replace("66332798", "66332799") });
    upstream.routes.set(ZIP_PATH, { body: await impostorZip() });
    const lookup = await fetch(`${registry.url}/go${LOOKUP_PATH}`);
    assert.equal(lookup.status, 502);
    assert.match(await lookup.text(), /invalid signature by sum\.golang\.org/);
    const zip = await fetch(`${registry.url}/go${ZIP_PATH}`);
    assert.equal(zip.status, 502);
    assert.match(await zip.text(), /checksum record of github\.com\/google\/uuid@v1\.6\.0/);
    // Refused before the file was asked for.
    assert.equal(upstream.requests.get(ZIP_PATH), undefined);
    assert.equal((await goStatus(registry)).documents, 0);
  });
});

Deno.test("zip bombs and archives with names outside the module are 502s, never stored", async () => {
  await withStandIn(async (upstream, registry) => {
    upstream.routes.set(LOOKUP_PATH, { body: UUID_LOOKUP });
    const bombs: [Uint8Array, RegExp][] = [
      [
        await buildZip([{
          name: `${UUID}@v1.6.0/bomb`,
          data: new Uint8Array(20 * 1024 * 1024),
          declaredSize: 100,
        }]),
        /inflates past its declared 100 bytes/,
      ],
      [
        await buildZip([{ name: `${UUID}@v1.6.0/a`, data: "x".repeat(5000) }], {
          overlappingCopies: 100,
        }),
        /overlaps another entry/,
      ],
      [
        await buildZip([{ name: `${UUID}@v1.6.0/../../../../etc/cron.d/x`, data: "x" }]),
        /not a plain relative file name/,
      ],
      [new TextEncoder().encode("<html>upstream error</html>"), /not a zip/],
    ];
    for (const [body, reason] of bombs) {
      upstream.routes.set(ZIP_PATH, { body });
      const response = await fetch(`${registry.url}/go${ZIP_PATH}`);
      assert.equal(response.status, 502);
      const message = await response.text();
      assert.match(message, /not a module zip this registry accepts/);
      assert.match(message, reason);
    }
    assert.equal((await goStatus(registry)).packages, 0);
    assert.deepEqual(await tempFiles(registry.dataDir), []);
  });
});

Deno.test("files of a module the checksum database does not know are relayed, never stored", async () => {
  await withStandIn(async (upstream, registry) => {
    const zip = await buildZip([{ name: "example.com/private@v1.0.0/go.mod", data: "module x\n" }]);
    upstream.routes.set("/example.com/private/@v/v1.0.0.zip", { body: zip });
    upstream.routes.set("/example.com/private/@v/v1.0.0.mod", { body: "module x\n" });
    for (let i = 0; i < 2; i++) {
      const response = await fetch(`${registry.url}/go/example.com/private/@v/v1.0.0.zip`);
      assert.equal(response.status, 200);
      assert.equal(response.headers.get("cache-control"), "no-store");
      assert.deepEqual(await readBody(response), zip);
    }
    assert.equal(upstream.requests.get("/example.com/private/@v/v1.0.0.zip"), 2);
    const missing = await fetch(
      `${registry.url}/go/example.com/private/@v/v2.0.0+incompatible.zip`,
    );
    assert.equal(missing.status, 404);
    assert.match(await missing.text(), /not found/);
    assert.equal((await goStatus(registry)).packages, 0);
  });
});

Deno.test("hostile module paths get a 400 or 404 with a reason and never reach the upstream", async () => {
  await withStandIn(async (upstream, registry) => {
    const paths = [
      "/go/../../etc/passwd",
      "/go/github.com/x/..%2f..%2fetc/@v/list",
      "/go/github.com/X/y/@v/list",
      "/go/github.com/x/y/@v/v1.0.0%00.zip",
      "/go/github.com/x/y/@v/..%2f..%2fsecret.zip",
      "/go/git@github.com:x/y/@v/list",
      "/go/github.com/x/y/@v/!v1.0.0.zip",
      "/go/github.com/x/y/@v/v1.0.0.zip/../../../z",
      "/go/localhost/y/@v/list",
      "/go/-x.com/y/@v/list",
      "/go/.x.com/y/@v/list",
      "/go/x.com/con/@v/list",
      `/go/x.com/${"a".repeat(10_000)}/@v/list`,
      "/go/sumdb/sum.golang.org/lookup/../../../x@v1.0.0",
      "/go/sumdb/sum.golang.org/lookup/x.com/y@v1.0.0/../../z",
      "/go/sumdb/sum.golang.org/lookup/x.com/y@master",
      "/go/sumdb/evil.example/lookup/x.com/y@v1.0.0",
      "/go/sumdb/sum.golang.org/tile/8/0/../../../../x",
      "/go/sumdb/sum.golang.org/tile/8/0/000.p/999",
    ];
    for (const path of paths) {
      const response = await rawGet(registry.port, path, { host: `127.0.0.1:${registry.port}` });
      assert.ok(response.status === 400 || response.status === 404, `${path}: ${response.status}`);
      assert.ok(response.body.trim().length > 0, path);
    }
    assert.equal(upstream.total(), 0, JSON.stringify([...upstream.requests]));

    // Dot segments (also as %2e%2e) and backslashes are resolved by the URL parser before
    // routing, as for every route: they can only name another path under /go/, which is then
    // checked like any other.
    for (
      const [path, upstreamPath] of [
        ["/go/github.com/x/y/@latest/../@v/list", "/github.com/x/y/@v/list"],
        ["/go/github.com/x/%2e%2e/@v/list", "/github.com/@v/list"],
        ["/go/github.com/x\\z/@v/list", "/github.com/x/z/@v/list"],
      ]
    ) {
      const response = await rawGet(registry.port, path, { host: `127.0.0.1:${registry.port}` });
      assert.equal(response.status, 404, path);
      assert.equal(upstream.requests.get(upstreamPath), 1, path);
    }
    assert.equal(upstream.total(), 3);
  });
});
