import assert from "node:assert/strict";
import { processPackument } from "../../src/registry/npm/packument.ts";
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

function process() {
  return processPackument(
    "@scope/demo",
    new TextEncoder().encode(JSON.stringify(upstreamDoc)),
  );
}

Deno.test("tarball URLs from any npm host point at this server; digests stay untouched", () => {
  const full = JSON.parse(new TextDecoder().decode(process().full));
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

Deno.test("the tarball index maps file names to the upstream URL and digests", () => {
  const { tarballs, versionCount } = process();
  assert.equal(versionCount, 2);
  assert.deepEqual(tarballs["demo-1.0.0.tgz"], {
    url: "https://registry.npmjs.org/@scope/demo/-/demo-1.0.0.tgz",
    integrity: "sha512-AAAA",
    shasum: "abc",
  });
  assert.equal(tarballs["demo-2.0.0.tgz"].url.startsWith("https://registry.yarnpkg.com/"), true);
});

Deno.test("the abbreviated document keeps install fields and drops the rest", () => {
  const abbreviated = JSON.parse(new TextDecoder().decode(process().abbreviated));
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

Deno.test("invalid upstream JSON is refused, not stored", () => {
  assert.throws(() => processPackument("x", new TextEncoder().encode("{oops")), /invalid JSON/);
  assert.throws(() => processPackument("x", new TextEncoder().encode("[1]")), /non-object/);
});
