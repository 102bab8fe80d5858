import assert from "node:assert/strict";
import { derivePackument, rewriteTarballUrls } from "../../src/registry/npm/packument.ts";
import { BASE_URL_PLACEHOLDER } from "../../src/store/rendered_documents.ts";

const upstreamDoc = {
  _id: "@scope/demo",
  name: "@scope/demo",
  "dist-tags": { latest: "2.0.0" },
  time: { modified: "2026-01-02T03:04:05.000Z" },
  readme: "a long readme that the abbreviated document drops",
  versions: {
    "1.0.0": {
      name: "@scope/demo",
      version: "1.0.0",
      scripts: { test: "x" },
      dependencies: { a: "^1" },
      dist: {
        tarball: "https://registry.npmjs.org/@scope/demo/-/demo-1.0.0.tgz",
        integrity: "sha512-AAAA",
        shasum: "abc",
        signatures: [{ keyid: "k", sig: "s" }],
      },
    },
    "2.0.0": {
      name: "@scope/demo",
      version: "2.0.0",
      scripts: { postinstall: "node build.js" },
      deprecated: "use 3",
      dist: { tarball: "https://registry.yarnpkg.com/@scope/demo/-/demo-2.0.0.tgz", shasum: "def" },
    },
  },
};

// The public registry sends compact JSON; the mirror here puts spaces after colons.
const compact = JSON.stringify(upstreamDoc);
const spaced = JSON.stringify(upstreamDoc).replaceAll('":', '": ');

function fullDocument(text = compact) {
  return rewriteTarballUrls("@scope/demo", text);
}

function derive() {
  return derivePackument("@scope/demo", fullDocument());
}

Deno.test("tarball URLs from any npm host point at this server; digests stay untouched", () => {
  for (const text of [compact, spaced]) {
    const full = JSON.parse(fullDocument(text));
    assert.equal(
      full.versions["2.0.0"].dist.tarball,
      `${BASE_URL_PLACEHOLDER}/@scope/demo/-/demo-2.0.0.tgz`,
    );
  }
  // Only the URLs change: every other byte of the upstream text stays as it was.
  assert.equal(
    fullDocument().replaceAll(/"@@vm-pkg-base-url@@[^"]*"/g, '""'),
    compact.replaceAll(/"https:\/\/registry\.[a-z]+\.(org|com)\/[^"]*\.tgz"/g, '""'),
  );
  const full = JSON.parse(fullDocument());
  const v1 = full.versions["1.0.0"].dist;
  assert.equal(v1.tarball, `${BASE_URL_PLACEHOLDER}/@scope/demo/-/demo-1.0.0.tgz`);
  assert.equal(v1.integrity, "sha512-AAAA");
  assert.equal(v1.shasum, "abc");
  assert.deepEqual(v1.signatures, [{ keyid: "k", sig: "s" }]);
  assert.equal(
    full.versions["2.0.0"].dist.tarball,
    `${BASE_URL_PLACEHOLDER}/@scope/demo/-/demo-2.0.0.tgz`,
  );
  assert.equal(full.readme, upstreamDoc.readme);
});

Deno.test("the tarball index maps file names to their digests", () => {
  const { tarballs } = derive();
  assert.deepEqual(tarballs, {
    "demo-1.0.0.tgz": { integrity: "sha512-AAAA", shasum: "abc" },
    "demo-2.0.0.tgz": { integrity: undefined, shasum: "def" },
  });
});

Deno.test("the abbreviated document keeps install fields and drops the rest", () => {
  const abbreviated = JSON.parse(new TextDecoder().decode(derive().abbreviated));
  assert.deepEqual(Object.keys(abbreviated).sort(), ["dist-tags", "modified", "name", "versions"]);
  assert.equal(abbreviated.modified, "2026-01-02T03:04:05.000Z");
  const v1 = abbreviated.versions["1.0.0"];
  assert.deepEqual(v1.dependencies, { a: "^1" });
  assert.equal(v1.scripts, undefined);
  assert.equal(v1.hasInstallScript, undefined);
  const v2 = abbreviated.versions["2.0.0"];
  assert.equal(v2.hasInstallScript, true);
  assert.equal(v2.deprecated, "use 3");
});

Deno.test("the version index finds each manifest in the manifests bytes, and the tags", () => {
  assert.equal(derive().versions, undefined, "not made unless asked for (installs never need it)");
  const { manifests, index: versionIndex } = derivePackument("@scope/demo", fullDocument(), {
    versions: true,
  }).versions!;
  assert.deepEqual(versionIndex.distTags, { latest: "2.0.0" });
  assert.deepEqual(Object.keys(versionIndex.versions), ["1.0.0", "2.0.0"]);
  const full = JSON.parse(fullDocument());
  for (const [version, [offset, length]] of Object.entries(versionIndex.versions)) {
    const text = new TextDecoder().decode(manifests.subarray(offset, offset + length));
    assert.deepEqual(JSON.parse(text), full.versions[version], version);
  }
  const total = Object.values(versionIndex.versions).reduce((sum, [, length]) => sum + length, 0);
  assert.equal(manifests.byteLength, total);
  // Tags that are not strings are not tags.
  const odd = { ...upstreamDoc, "dist-tags": { latest: "1.0.0", broken: 7 } };
  const oddIndex = derivePackument("@scope/demo", JSON.stringify(odd), { versions: true })
    .versions!.index;
  assert.deepEqual(oddIndex.distTags, { latest: "1.0.0" });
});

Deno.test("invalid upstream JSON is refused", () => {
  assert.throws(() => rewriteTarballUrls("x", "{oops"), /other than a JSON object/);
  assert.throws(() => rewriteTarballUrls("x", "[1]"), /other than a JSON object/);
  assert.throws(() => derivePackument("x", '{"a": }'), /invalid JSON/);
});

Deno.test("a readme that quotes a tarball member is not rewritten", () => {
  const doc = { name: "q", readme: 'use "tarball": "https://x/q/-/q-1.tgz"', versions: {} };
  const text = JSON.stringify(doc);
  assert.equal(rewriteTarballUrls("q", text), text);
});

Deno.test("a tarball URL that names no .tgz file is neutralized, never passed on", () => {
  const hostile = {
    name: "h",
    versions: {
      "1.0.0": { dist: { tarball: "http://127.0.0.1:9/download?id=1", shasum: "a".repeat(40) } },
      "1.1.0": { dist: { tarball: "https://elsewhere.example/h/-/h-1.1.0.tgz/", shasum: "b" } },
      "1.2.0": { dist: { tarball: "file:///etc/h-1.2.0.tgz", shasum: "c".repeat(40) } },
    },
  };
  const full = JSON.parse(rewriteTarballUrls("h", JSON.stringify(hostile)));
  assert.deepEqual(
    Object.values(full.versions).map((v) => (v as { dist: { tarball: string } }).dist.tarball),
    [
      `${BASE_URL_PLACEHOLDER}/-/refused-tarball-url/h`,
      `${BASE_URL_PLACEHOLDER}/-/refused-tarball-url/h`,
      // A file name is all that is kept of a URL: the host is always the configured upstream's.
      `${BASE_URL_PLACEHOLDER}/h/-/h-1.2.0.tgz`,
    ],
  );
  // Neutralized versions have no tarball to serve.
  assert.deepEqual(Object.keys(derivePackument("h", JSON.stringify(full)).tarballs), [
    "h-1.2.0.tgz",
  ]);
});

Deno.test("a tarball key spelled with escapes is rewritten too (parsed, then)", () => {
  const text = '{"name":"e","versions":{"1.0.0":{"dist":{"tarb\\u0061ll":"http://x/steal",' +
    '"integrity":"sha512-AA"}},"2.0.0":{"dist":{"\\u0074arball":"http://x/e/-/e-2.0.0.tgz"}}}}';
  assert.equal(JSON.parse(text).versions["1.0.0"].dist.tarball, "http://x/steal");
  const full = JSON.parse(rewriteTarballUrls("e", text));
  assert.equal(
    full.versions["1.0.0"].dist.tarball,
    `${BASE_URL_PLACEHOLDER}/-/refused-tarball-url/e`,
  );
  assert.equal(full.versions["1.0.0"].dist.integrity, "sha512-AA");
  assert.equal(full.versions["2.0.0"].dist.tarball, `${BASE_URL_PLACEHOLDER}/e/-/e-2.0.0.tgz`);
  // Escapes of other characters (Go writes <, > and & so) keep the fast path: bytes unchanged.
  const go = '{"name":"g","readme":"\\u003cb\\u003e","versions":{}}';
  assert.equal(rewriteTarballUrls("g", go), go);
});
