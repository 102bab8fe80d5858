// Private npm packages with the real npm client: publish (scoped and unscoped), install back in
// a fresh project, dist-tags, deprecate, unpublish; shadowing of a public name; the token; and
// malformed publishes that must store nothing.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { authTokenLine, hasNpm, makeProject, runNpm } from "../support/npm_client.ts";
import { rawRequest, tempFiles, type TestRegistry, withRegistry } from "../support/registry.ts";

const npmMissing = !(await hasNpm());
if (npmMissing) console.warn("skipping npm publish tests: the npm client is not installed");

// Names nobody publishes on the public registry, so the one-source rule lets them through.
const suffix = crypto.randomUUID().slice(0, 8);
const UNSCOPED = `vm-pkg-test-private-${suffix}`;
const SCOPED = `@vm-pkg-test-${suffix}/hello`;

async function makePackage(name: string, version: string, body: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "vm-npm-pkg-" });
  await Deno.writeTextFile(
    join(dir, "package.json"),
    JSON.stringify({ name, version, main: "index.js", license: "MIT", description: "test" }),
  );
  await Deno.writeTextFile(join(dir, "index.js"), `module.exports = ${JSON.stringify(body)};\n`);
  return dir;
}

function npmAs(registry: TestRegistry, cwd: string, token = registry.token) {
  return (args: string[]) =>
    runNpm(args, {
      cwd,
      registry: `${registry.npmUrl}/`,
      cache: join(cwd, ".npm-cache"),
      npmrc: [authTokenLine(`${registry.npmUrl}/`, token)],
    });
}

async function getJson(url: string, headers: HeadersInit = {}) {
  const response = await fetch(url, { headers });
  return { status: response.status, body: await response.json() };
}

async function privateList(registry: TestRegistry) {
  return (await getJson(`${registry.url}/-/packages?type=npm`)).body.packages as {
    name: string;
    versions: { version: string; deprecated?: string }[];
    distTags: Record<string, string>;
  }[];
}

Deno.test({
  name: "npm publishes private packages, installs them back, tags, deprecates and unpublishes",
  ignore: npmMissing,
  async fn() {
    await withRegistry({}, async (registry) => {
      const dirs: string[] = [];
      const mk = async (name: string, version: string, body: string) => {
        const dir = await makePackage(name, version, body);
        dirs.push(dir);
        return npmAs(registry, dir);
      };
      try {
        const v1 = await mk(UNSCOPED, "1.0.0", "one");
        const published = await v1(["publish"]);
        assert.equal(published.code, 0, published.stderr);
        const scoped = await mk(SCOPED, "0.1.0", "scoped");
        const scopedPublished = await scoped(["publish", "--access", "restricted"]);
        assert.equal(scopedPublished.code, 0, scopedPublished.stderr);

        // A version is never published over.
        const again = await v1(["publish"]);
        assert.notEqual(again.code, 0);
        // npm itself checks the packument first; the server's own 409 is tested below.
        assert.match(again.stderr, /cannot publish over the previously published versions/);

        const v2 = await mk(UNSCOPED, "1.1.0", "two");
        const beta = await v2(["publish", "--tag", "beta"]);
        assert.equal(beta.code, 0, beta.stderr);
        const tags = await v2(["dist-tag", "ls", UNSCOPED]);
        assert.equal(tags.code, 0, tags.stderr);
        assert.match(tags.stdout, /beta: 1\.1\.0/);
        assert.match(tags.stdout, /latest: 1\.0\.0/);
        const promote = await v2(["dist-tag", "add", `${UNSCOPED}@1.1.0`, "latest"]);
        assert.equal(promote.code, 0, promote.stderr);
        const dropBeta = await v2(["dist-tag", "rm", UNSCOPED, "beta"]);
        assert.equal(dropBeta.code, 0, dropBeta.stderr);
        assert.deepEqual((await privateList(registry)).find((p) => p.name === UNSCOPED)?.distTags, {
          latest: "1.1.0",
        });

        // Install back into a fresh project with an empty npm cache.
        const consumer = await makeProject({ [UNSCOPED]: "^1.0.0", [SCOPED]: "0.1.0" });
        dirs.push(consumer);
        const install = await npmAs(registry, consumer)(["install", "--no-audit"]);
        assert.equal(install.code, 0, install.stderr);
        const run = new Deno.Command("node", {
          args: ["-e", `console.log(require("${UNSCOPED}") + "," + require("${SCOPED}"))`],
          cwd: consumer,
          stdout: "piped",
        });
        assert.equal(new TextDecoder().decode((await run.output()).stdout).trim(), "two,scoped");
        const lock = await Deno.readTextFile(join(consumer, "package-lock.json"));
        assert.match(
          lock,
          new RegExp(`${registry.npmUrl}/${UNSCOPED}/-/${UNSCOPED}-1\\.1\\.0\\.tgz`),
        );

        // Deprecate, then unpublish one version, then the whole package.
        const deprecate = await v1(["deprecate", `${UNSCOPED}@1.0.0`, "use 1.1"]);
        assert.equal(deprecate.code, 0, deprecate.stderr);
        const doc = await getJson(`${registry.npmUrl}/${UNSCOPED}`);
        assert.equal(doc.body.versions["1.0.0"].deprecated, "use 1.1");
        assert.equal(doc.body.versions["1.1.0"].deprecated, undefined);
        const abbreviated = await getJson(`${registry.npmUrl}/${UNSCOPED}`, {
          accept: "application/vnd.npm.install-v1+json",
        });
        assert.equal(abbreviated.body.versions["1.0.0"].deprecated, "use 1.1");

        const unpublishOne = await v1(["unpublish", `${UNSCOPED}@1.0.0`, "--force"]);
        assert.equal(unpublishOne.code, 0, unpublishOne.stderr);
        const afterOne = await getJson(`${registry.npmUrl}/${UNSCOPED}`);
        assert.deepEqual(Object.keys(afterOne.body.versions), ["1.1.0"]);
        const goneTarball = await fetch(`${registry.npmUrl}/${UNSCOPED}/-/${UNSCOPED}-1.0.0.tgz`);
        await goneTarball.body?.cancel();
        assert.equal(goneTarball.status, 404);

        const unpublishAll = await v1(["unpublish", UNSCOPED, "--force"]);
        assert.equal(unpublishAll.code, 0, unpublishAll.stderr);
        const afterAll = await fetch(`${registry.npmUrl}/${UNSCOPED}`);
        assert.equal(afterAll.status, 404);
        assert.match((await afterAll.json()).error, /private here and has no published versions/);
        // The name stays private: it is not silently handed back to upstream.
        const kept = (await privateList(registry)).find((p) => p.name === UNSCOPED);
        assert.deepEqual(kept?.versions, []);
        assert.deepEqual(await tempFiles(registry.dataDir), []);
      } finally {
        for (const dir of dirs) await Deno.remove(dir, { recursive: true });
      }
    });
  },
});

Deno.test({
  name: "npm: a public name is refused until claimed; then upstream versions are never served",
  ignore: npmMissing,
  async fn() {
    await withRegistry({}, async (registry) => {
      const dir = await makePackage("left-pad", "99.0.0", "private left-pad");
      try {
        const npm = npmAs(registry, dir);
        const refused = await npm(["publish"]);
        assert.notEqual(refused.code, 0);
        assert.match(refused.stderr, /exists on the public registry/);
        assert.deepEqual(await privateList(registry), []);

        const claim = await fetch(`${registry.url}/-/packages/npm/left-pad/claim`, {
          method: "PUT",
          headers: { authorization: `Bearer ${registry.token}` },
        });
        assert.equal(claim.status, 200, await claim.text());
        const published = await npm(["publish"]);
        assert.equal(published.code, 0, published.stderr);

        const doc = await getJson(`${registry.npmUrl}/left-pad`);
        assert.deepEqual(Object.keys(doc.body.versions), ["99.0.0"]);
        assert.deepEqual(doc.body["dist-tags"], { latest: "99.0.0" });
        const upstreamsBefore = (await registry.counters()).upstreamRequests;
        const publicTarball = await fetch(`${registry.npmUrl}/left-pad/-/left-pad-1.3.0.tgz`);
        await publicTarball.body?.cancel();
        assert.equal(publicTarball.status, 404);
        assert.equal((await registry.counters()).upstreamRequests, upstreamsBefore);

        const consumer = await makeProject({ "left-pad": "*" });
        try {
          const install = await npmAs(registry, consumer)(["install", "--no-audit"]);
          assert.equal(install.code, 0, install.stderr);
          const installed = JSON.parse(
            await Deno.readTextFile(join(consumer, "node_modules", "left-pad", "package.json")),
          );
          assert.equal(installed.version, "99.0.0");
        } finally {
          await Deno.remove(consumer, { recursive: true });
        }
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });
  },
});

/** A valid publish document for `name@version` around `tarball` (any gzip bytes). */
function publishDoc(name: string, version: string, tarball: Uint8Array) {
  const integrity = `sha512-${createHash("sha512").update(tarball).digest("base64")}`;
  const shasum = createHash("sha1").update(tarball).digest("hex");
  const file = `${name}-${version}.tgz`;
  return {
    _id: name,
    name,
    "dist-tags": { latest: version },
    versions: {
      [version]: { name, version, dist: { integrity, shasum, tarball: `http://x/${file}` } },
    },
    _attachments: {
      [file]: {
        content_type: "application/octet-stream",
        data: tarball.toBase64(),
        length: tarball.byteLength,
      },
    },
  };
}

async function gzipped(text: string): Promise<Uint8Array> {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

Deno.test("npm writes need the token, and malformed publishes store nothing", async () => {
  await withRegistry({}, async (registry) => {
    const name = UNSCOPED;
    const tarball = await gzipped("not really a tar, but gzip");
    const put = async (body: BodyInit, headers: Record<string, string> = {}, path = name) => {
      const response = await fetch(`${registry.npmUrl}/${path}`, {
        method: "PUT",
        headers: {
          "content-type": "application/json",
          authorization: `Bearer ${registry.token}`,
          ...headers,
        },
        body,
      });
      return { status: response.status, message: (await response.json()).error as string };
    };
    const valid = publishDoc(name, "1.0.0", tarball);

    assert.equal((await put(JSON.stringify(valid), { authorization: "" })).status, 401);
    assert.equal((await put(JSON.stringify(valid), { authorization: "Bearer wrong" })).status, 401);
    const tagWithoutToken = await fetch(`${registry.npmUrl}/-/package/${name}/dist-tags/beta`, {
      method: "PUT",
      body: '"1.0.0"',
    });
    await tagWithoutToken.body?.cancel();
    assert.equal(tagWithoutToken.status, 401);

    const wrongIntegrity = structuredClone(valid);
    wrongIntegrity.versions["1.0.0"].dist.integrity = `sha512-${"A".repeat(86)}==`;
    const notGzip = publishDoc(name, "1.0.0", new TextEncoder().encode("plain"));
    const cases: [string, BodyInit, number, string?][] = [
      ["invalid JSON", "{not json", 400],
      ["integrity mismatch", JSON.stringify(wrongIntegrity), 400],
      ["not gzip", JSON.stringify(notGzip), 400],
      ["other name", JSON.stringify(publishDoc("other-name", "1.0.0", tarball)), 400],
      ["version with ..", JSON.stringify(publishDoc(name, "1.0.0/../..", tarball)), 400],
      ["no attachments", JSON.stringify({ ...valid, _attachments: {} }), 404],
      ["array body", "[]", 400],
      ["name with ..", JSON.stringify(valid), 400, "..%2f..%2fetc"],
    ];
    for (const [label, body, status, path] of cases) {
      const answer = await put(body, {}, path);
      assert.equal(answer.status, status, `${label}: ${answer.message}`);
    }
    // A Content-Length over the limit is refused before the body is read.
    const huge = await rawRequest(registry.port, "PUT", `/npm/${name}`, {
      host: `127.0.0.1:${registry.port}`,
      authorization: `Bearer ${registry.token}`,
      "content-type": "application/json",
      "content-length": String(2 ** 30),
    }, "{");
    assert.equal(huge.status, 413, huge.body);
    // Deprecating or unpublishing a public package is refused.
    const publicChange = await put(
      JSON.stringify({ name: "left-pad", versions: {} }),
      {},
      "left-pad",
    );
    assert.equal(publicChange.status, 404);

    assert.deepEqual(await privateList(registry), []);
    assert.deepEqual(await tempFiles(registry.dataDir), []);
    const status = await registry.status();
    assert.equal(status.cache.blobs, 0, "nothing was stored");

    // And the valid document does publish (the cases above failed for their own reason).
    assert.equal((await put(JSON.stringify(valid))).status, 201);
    assert.deepEqual((await privateList(registry)).map((p) => p.name), [name]);
    const duplicate = await put(JSON.stringify(valid));
    assert.equal(duplicate.status, 409);
    assert.match(duplicate.message, /already exists/);
  });
});
