// One name, one source, in every spelling; and names from clients never reach Object.prototype.
// cargo names compare as crates.io compares them (case and `-`/`_` ignored): against the real
// crates.io, a spelling of a public crate is refused as shadowing, a claimed or private crate hides
// every spelling from upstream, and a second spelling of a private crate is refused as crates.io
// refuses it. npm scoped names and PyPI names reach one source in each of their spellings. Lookups
// by a client's key (`constructor`, `__proto__`, `toString`…) answer 404, never 500. And
// `/npm/<name>/<version>` answers from a version index, without parsing the packument per request.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import {
  crateArchive,
  crateUpload,
  hasCargo,
  indexLines,
  publisherEnv,
  putCrate,
  runCargo,
  writeCrate,
} from "../support/cargo_client.ts";
import { withTempDir } from "../support/process.ts";
import { readBody, type TestRegistry, withRegistry } from "../support/registry.ts";
import { startStandInUpstream } from "../support/stand_in_upstream.ts";

const cargoMissing = !(await hasCargo());
const PROTOTYPE_KEYS = ["constructor", "__proto__", "toString", "hasOwnProperty", "valueOf"];

async function upstreamRequests(registry: TestRegistry, type: "npm" | "pypi" | "cargo") {
  return (await registry.status()).ecosystems[type].upstreamRequests;
}

async function statusOf(url: string, init: RequestInit = {}): Promise<number> {
  const response = await fetch(url, { redirect: "manual", ...init });
  await response.body?.cancel();
  return response.status;
}

function withToken(registry: TestRegistry, init: RequestInit = {}): RequestInit {
  return { ...init, headers: { authorization: `Bearer ${registry.token}`, ...init.headers } };
}

// crates.io has `serde_json` (its index answers 404 for `se/rd/serde-json`) and `proc-macro2`
// (404 for `pr/oc/proc_macro2`): each exists upstream in one spelling only.
Deno.test("cargo: every spelling of a crates.io name is refused as shadowing", async () => {
  await withRegistry({}, async (registry) => {
    for (const spelling of ["serde-json", "Serde_Json", "SERDE-JSON"]) {
      const refused = await putCrate(registry, await crateUpload(spelling, "99.0.0"));
      assert.equal(refused.status, 409, `${spelling}: ${refused.detail}`);
      assert.match(refused.detail, /exists on the public registry/, spelling);
      // The index path is the lowercased name: only `-` for `_` makes another spelling.
      if (spelling.includes("-")) assert.match(refused.detail, /\(as serde_json\)/, spelling);
    }
    // A name with more spellings than are worth asking is refused until it is claimed.
    const many = await putCrate(registry, await crateUpload("vmpkg-a-b-c-d-e-f-g", "1.0.0"));
    assert.equal(many.status, 503, many.detail);
    assert.match(many.detail, /vm pkg claim vmpkg-a-b-c-d-e-f-g --type cargo/);
    const listed = await fetch(`${registry.url}/-/packages?type=cargo`).then((r) => r.json());
    assert.deepEqual(listed.packages, []);
  });
});

Deno.test({
  name: "cargo: the real cargo publish of another spelling of a crates.io crate is refused",
  ignore: cargoMissing,
  async fn() {
    await withTempDir(async (dir) => {
      await withRegistry({}, async (registry) => {
        const project = await writeCrate(join(dir, "serde-json"), [
          "[package]",
          'name = "serde-json"',
          'version = "99.0.0"',
          'edition = "2021"',
          'description = "Not serde_json"',
          'license = "MIT"',
        ], { path: "src/lib.rs", text: "pub fn f() {}\n" });
        const env = await publisherEnv(dir, registry);
        const published = await runCargo(
          ["publish", "--registry", "vm", "--no-verify"],
          project,
          env,
        );
        assert.notEqual(published.code, 0, published.stderr);
        assert.match(published.stderr, /409/);
        assert.match(
          published.stderr,
          /serde-json exists on the public registry \(as serde_json\)/,
        );
      });
    });
  },
});

Deno.test("cargo: a claimed name hides every spelling from crates.io; one crate, one spelling", async () => {
  await withRegistry({}, async (registry) => {
    const claim = await fetch(
      `${registry.url}/-/packages/cargo/Proc_Macro2/claim`,
      withToken(registry, { method: "PUT" }),
    );
    assert.equal(claim.status, 200, await claim.text());
    const before = await upstreamRequests(registry, "cargo");
    // Claimed, nothing published: every spelling is private and empty, never crates.io's.
    for (const path of ["pr/oc/proc-macro2", "pr/oc/proc_macro2"]) {
      assert.equal(await statusOf(`${registry.url}/cargo/index/${path}`), 404, path);
    }
    for (const name of ["proc-macro2", "proc_macro2", "Proc-Macro2"]) {
      const download = `${registry.url}/cargo/api/v1/crates/${name}/1.0.95/download`;
      assert.equal(await statusOf(download), 404, name);
    }
    assert.equal(await upstreamRequests(registry, "cargo"), before);

    // The claim lets a native client publish any spelling; the first version fixes it.
    const published = await putCrate(registry, await crateUpload("proc-macro2", "99.0.0"));
    assert.equal(published.status, 200, published.detail);
    const crate = await crateArchive("proc-macro2", "99.0.0");
    for (const path of ["pr/oc/proc-macro2", "pr/oc/proc_macro2"]) {
      const { lines } = await indexLines(registry, path);
      assert.deepEqual(lines.map((line) => [line.name, line.vers]), [["proc-macro2", "99.0.0"]]);
      assert.equal(lines[0].cksum, createHash("sha256").update(crate).digest("hex"));
    }
    for (const name of ["proc-macro2", "proc_macro2", "PROC_MACRO2"]) {
      const response = await fetch(`${registry.url}/cargo/api/v1/crates/${name}/99.0.0/download`);
      assert.equal(response.status, 200, name);
      assert.deepEqual(await readBody(response), crate, name);
    }
    // As on crates.io: a later version under another spelling is refused.
    for (const spelling of ["proc_macro2", "Proc-Macro2"]) {
      const refused = await putCrate(registry, await crateUpload(spelling, "99.0.1"));
      assert.equal(refused.status, 409, `${spelling}: ${refused.detail}`);
      assert.match(refused.detail, /crate was previously named `proc-macro2`/);
    }
    // Yank and the admin routes find it in any spelling.
    const yank = await fetch(
      `${registry.url}/cargo/api/v1/crates/proc_macro2/99.0.0/yank`,
      { method: "DELETE", headers: { authorization: registry.token } },
    );
    assert.equal(yank.status, 200, await yank.text());
    const { lines } = await indexLines(registry, "pr/oc/proc-macro2");
    assert.equal(lines[0].yanked, true);
    const listed = await fetch(`${registry.url}/-/packages?type=cargo`).then((r) => r.json());
    assert.equal(listed.packages.length, 1);
    const shown = await fetch(`${registry.url}/-/packages/cargo/PROC-MACRO2`);
    assert.equal(shown.status, 200);
    assert.deepEqual((await shown.json()).versions.map((v: { version: string }) => v.version), [
      "99.0.0",
    ]);
    assert.equal(await upstreamRequests(registry, "cargo"), before);
  });
});

Deno.test("cargo: a private crate is one crate in every spelling, never fetched upstream", async () => {
  await withRegistry({}, async (registry) => {
    const published = await putCrate(registry, await crateUpload("vmpkg_names_demo", "0.1.0"));
    assert.equal(published.status, 200, published.detail);
    const before = await upstreamRequests(registry, "cargo");
    for (const path of ["vm/pk/vmpkg_names_demo", "vm/pk/vmpkg-names-demo"]) {
      const { status, lines } = await indexLines(registry, path);
      assert.equal(status, 200, path);
      assert.deepEqual(lines.map((line) => line.name), ["vmpkg_names_demo"]);
    }
    const other = await putCrate(registry, await crateUpload("vmpkg-names-demo", "0.2.0"));
    assert.equal(other.status, 409, other.detail);
    assert.match(other.detail, /crate was previously named `vmpkg_names_demo`/);
    // A claim of another spelling is the same crate, not a second one.
    const claim = await fetch(
      `${registry.url}/-/packages/cargo/VMPKG-names-demo/claim`,
      withToken(registry, { method: "PUT" }),
    );
    assert.equal(claim.status, 200);
    assert.equal((await claim.json()).versions.length, 1);
    const listed = await fetch(`${registry.url}/-/packages?type=cargo`).then((r) => r.json());
    assert.deepEqual(listed.packages.map((p: { name: string }) => p.name), ["vmpkg_names_demo"]);
    assert.equal(await upstreamRequests(registry, "cargo"), before);
  });
});

/** A loopback npm upstream: one big packument (2000 versions) and one small scoped package. */
function startNpmUpstream() {
  const big = "vmpkg-many-versions";
  const scoped = "@vmpkg-up/real";
  const abort = new AbortController();
  let url = "";
  const manifest = (name: string, version: string) => ({
    name,
    version,
    description: `version ${version} `.repeat(40),
    dependencies: { "left-pad": "^1.0.0" },
    dist: {
      tarball: `${url}/${name}/-/${name.split("/").pop()}-${version}.tgz`,
      integrity: `sha512-${createHash("sha512").update(version).digest("base64")}`,
      shasum: createHash("sha1").update(version).digest("hex"),
    },
  });
  const packument = (name: string, versions: string[], tags: Record<string, string>) =>
    JSON.stringify({
      _id: name,
      name,
      "dist-tags": tags,
      versions: Object.fromEntries(versions.map((v) => [v, manifest(name, v)])),
      time: { modified: "2026-01-01T00:00:00.000Z" },
    });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: abort.signal, onListen: () => {} },
    (request) => {
      const path = decodeURIComponent(new URL(request.url).pathname);
      if (path === `/${big}`) {
        const versions = Array.from({ length: 2000 }, (_, i) => `1.0.${i}`);
        return new Response(packument(big, versions, { latest: "1.0.1999", beta: "1.0.7" }));
      }
      if (path === `/${scoped}`) {
        return new Response(packument(scoped, ["1.0.0"], { latest: "1.0.0" }));
      }
      return new Response("{}", { status: 404 });
    },
  );
  url = `http://127.0.0.1:${server.addr.port}`;
  return {
    big,
    scoped,
    url,
    manifest: (name: string, version: string) => manifest(name, version),
    close: async () => {
      abort.abort();
      await server.finished;
    },
  };
}

/** Counts JSON.parse calls whose text `matches` while `fn` runs (the server runs in-process). */
async function countParses(matches: (text: string) => boolean, fn: () => Promise<void>) {
  const parse = JSON.parse;
  let count = 0;
  JSON.parse = ((text: string, reviver?: Parameters<typeof parse>[1]) => {
    if (typeof text === "string" && matches(text)) count++;
    return parse(text, reviver);
  }) as typeof JSON.parse;
  try {
    await fn();
  } finally {
    JSON.parse = parse;
  }
  return count;
}

/** A valid npm publish document for `name@version` around a few gzip bytes. */
async function npmPublishDoc(name: string, version: string) {
  const tarball = await new Response(
    new Blob([`${name}@${version}`]).stream().pipeThrough(new CompressionStream("gzip")),
  ).bytes();
  const file = `${name}-${version}.tgz`;
  return {
    _id: name,
    name,
    "dist-tags": { latest: version },
    versions: {
      [version]: {
        name,
        version,
        dist: {
          integrity: `sha512-${createHash("sha512").update(tarball).digest("base64")}`,
          shasum: createHash("sha1").update(tarball).digest("hex"),
          tarball: `http://x/${file}`,
        },
      },
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

Deno.test("npm: /<name>/<version|tag> answers from a version index, not a parse per request", async () => {
  const upstream = startNpmUpstream();
  try {
    await withRegistry({ upstreams: { npm_upstream: upstream.url } }, async (registry) => {
      const version = (path: string) => fetch(`${registry.npmUrl}/${upstream.big}/${path}`);
      const expected = (v: string) => ({
        ...upstream.manifest(upstream.big, v),
        dist: {
          ...upstream.manifest(upstream.big, v).dist,
          tarball: `${registry.npmUrl}/${upstream.big}/-/${upstream.big}-${v}.tgz`,
        },
      });
      const first = await version("1.0.5");
      assert.equal(first.status, 200);
      assert.deepEqual(await first.json(), expected("1.0.5"));
      for (const [tag, v] of [["latest", "1.0.1999"], ["beta", "1.0.7"]]) {
        assert.deepEqual(await (await version(tag)).json(), expected(v), tag);
      }
      for (const missing of ["9.9.9", "nosuchtag", ...PROTOTYPE_KEYS]) {
        const response = await version(missing);
        assert.equal(response.status, 404, missing);
        assert.match((await response.json()).error, /not found/, missing);
      }
      const size = (await (await fetch(`${registry.npmUrl}/${upstream.big}`)).bytes()).byteLength;
      assert.ok(size > 1_000_000, `the packument is ${size} bytes`);
      // 200 at once, as npm view or a tool resolving many versions sends them.
      const parses = await countParses((text) => text.length > size / 2, async () => {
        const answers = await Promise.all(
          Array.from({ length: 200 }, (_, i) => version(`1.0.${i * 7}`)),
        );
        for (const [i, answer] of answers.entries()) {
          assert.deepEqual(await answer.json(), expected(`1.0.${i * 7}`));
        }
      });
      assert.equal(parses, 0, "whole-packument parses while answering 200 version requests");

      // A private package's versions, from its own document, in every spelling of its name.
      const name = "@vmpkg-names/demo";
      const put = await fetch(
        `${registry.npmUrl}/@vmpkg-names%2fdemo`,
        withToken(registry, {
          method: "PUT",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(await npmPublishDoc(name, "1.0.0")),
        }),
      );
      assert.equal(put.status, 201, await put.text());
      const spellings = ["@vmpkg-names%2fdemo", "@vmpkg-names%2Fdemo", "@vmpkg-names/demo"];
      const privateParses = await countParses(
        (text) => text.startsWith(`{"_id":"${name}"`),
        async () => {
          for (const spelling of spellings) {
            for (const tag of ["1.0.0", "latest"]) {
              const response = await fetch(`${registry.npmUrl}/${spelling}/${tag}`);
              assert.equal(response.status, 200, `${spelling}/${tag}`);
              const manifest = await response.json();
              assert.equal(manifest.version, "1.0.0");
              assert.equal(manifest.dist.tarball, `${registry.npmUrl}/${name}/-/demo-1.0.0.tgz`);
            }
            for (const missing of ["2.0.0", "beta", ...PROTOTYPE_KEYS]) {
              const path = `${spelling}/${missing}`;
              assert.equal(await statusOf(`${registry.npmUrl}/${path}`), 404, path);
            }
          }
        },
      );
      // At most the one derivation of the private document.
      assert.ok(privateParses <= 1, `${privateParses} parses of the private document`);
    });
  } finally {
    await upstream.close();
  }
});

Deno.test("npm: scoped names reach one source in every spelling, admin routes included", async () => {
  const upstream = startNpmUpstream();
  try {
    await withRegistry({ upstreams: { npm_upstream: upstream.url } }, async (registry) => {
      const put = (spelling: string, doc: unknown) =>
        fetch(
          `${registry.npmUrl}/${spelling}`,
          withToken(registry, {
            method: "PUT",
            headers: { "content-type": "application/json" },
            body: JSON.stringify(doc),
          }),
        );
      // The public scoped name cannot be published here in any spelling.
      const upstreamDoc = await npmPublishDoc(upstream.scoped, "9.0.0");
      for (const spelling of ["@vmpkg-up%2freal", "@vmpkg-up%2Freal", "@vmpkg-up/real"]) {
        const refused = await put(spelling, upstreamDoc);
        assert.equal(refused.status, 409, spelling);
        assert.match((await refused.json()).error, /exists on the public registry/);
      }
      const publicDocs = await Promise.all(
        ["@vmpkg-up%2freal", "@vmpkg-up%2Freal", "@vmpkg-up/real"].map(async (spelling) =>
          (await fetch(`${registry.npmUrl}/${spelling}`)).json()
        ),
      );
      for (const doc of publicDocs) assert.deepEqual(Object.keys(doc.versions), ["1.0.0"]);

      const name = "@vmpkg-names/demo";
      const published = await put("@vmpkg-names%2Fdemo", await npmPublishDoc(name, "1.0.0"));
      assert.equal(published.status, 201, await published.text());
      const before = await upstreamRequests(registry, "npm");
      const spellings = ["@vmpkg-names%2fdemo", "@vmpkg-names%2Fdemo", "@vmpkg-names/demo"];
      const bodies = await Promise.all(spellings.map(async (spelling) => {
        const response = await fetch(`${registry.npmUrl}/${spelling}`);
        assert.equal(response.status, 200, spelling);
        return await response.text();
      }));
      assert.equal(new Set(bodies).size, 1);
      const tarballs = await Promise.all(spellings.map(async (spelling) => {
        const response = await fetch(`${registry.npmUrl}/${spelling}/-/demo-1.0.0.tgz`);
        assert.equal(response.status, 200, spelling);
        return (await response.bytes()).toBase64();
      }));
      assert.equal(new Set(tarballs).size, 1);
      assert.equal(await upstreamRequests(registry, "npm"), before);

      // The admin routes take the scope encoded or plain.
      for (
        const spelling of ["%40vmpkg-names%2Fdemo", "@vmpkg-names%2fdemo", "@vmpkg-names/demo"]
      ) {
        const shown = await fetch(`${registry.url}/-/packages/npm/${spelling}`);
        assert.equal(shown.status, 200, spelling);
        assert.equal((await shown.json()).name, name);
      }
      const claim = await fetch(
        `${registry.url}/-/packages/npm/@vmpkg-names/claimed/claim`,
        withToken(registry, { method: "PUT" }),
      );
      assert.equal(claim.status, 200, await claim.text());
      assert.equal(await statusOf(`${registry.npmUrl}/@vmpkg-names%2fclaimed`), 404);
      const listed = await fetch(`${registry.url}/-/packages?type=npm`).then((r) => r.json());
      assert.deepEqual(listed.packages.map((p: { name: string }) => p.name).sort(), [
        "@vmpkg-names/claimed",
        name,
      ]);
    });
  } finally {
    await upstream.close();
  }
});

/** The form twine sends for a wheel of `name` (as spelled) at `version`. */
function wheelUpload(name: string, version: string): FormData {
  const bytes = new Uint8Array(64);
  bytes.set([0x50, 0x4b, 0x03, 0x04]);
  const form = new FormData();
  const fields = {
    ":action": "file_upload",
    protocol_version: "1",
    metadata_version: "2.1",
    filetype: "bdist_wheel",
    pyversion: "py3",
    name,
    version,
    sha256_digest: createHash("sha256").update(bytes).digest("hex"),
  };
  for (const [field, value] of Object.entries(fields)) form.append(field, value);
  const wheelName = name.replace(/[-_.]+/g, "_").toLowerCase();
  form.append("content", new File([bytes], `${wheelName}-${version}-py3-none-any.whl`));
  return form;
}

Deno.test("PyPI: every PEP 503 spelling reaches one project, private or upstream", async () => {
  const upstream = startStandInUpstream({ size: 1024 });
  try {
    await withRegistry({
      upstreams: {
        pypi_upstream: `${upstream.url}/simple`,
        pypi_files_upstream: upstream.url,
      },
    }, async (registry) => {
      const upload = (form: FormData) =>
        fetch(`${registry.url}/pypi/legacy/`, {
          method: "POST",
          headers: { authorization: `Basic ${btoa(`__token__:${registry.token}`)}` },
          body: form,
        });
      // The stand-in's vm-fault-demo, spelled otherwise, is still the public project.
      for (const spelling of ["VM_Fault.Demo", "vm.fault_demo", "VM--FAULT__DEMO"]) {
        const refused = await upload(wheelUpload(spelling, "9.0.0"));
        assert.equal(refused.status, 409, spelling);
        await refused.body?.cancel();
      }
      // Two spellings of a new name are one private project.
      for (
        const [spelling, version] of [["VmPkg_Names.Demo", "1.0.0"], ["vmpkg.names-DEMO", "1.1"]]
      ) {
        const accepted = await upload(wheelUpload(spelling, version));
        assert.equal(accepted.status, 200, `${spelling}: ${await accepted.text()}`);
      }
      const listed = await fetch(`${registry.url}/-/packages?type=pypi`).then((r) => r.json());
      assert.deepEqual(listed.packages.map((p: { name: string }) => p.name), ["vmpkg-names-demo"]);
      const before = await upstreamRequests(registry, "pypi");
      for (const spelling of ["VmPkg_Names.Demo", "vmpkg__names..demo", "VMPKG-NAMES-DEMO"]) {
        const redirect = await fetch(`${registry.url}/pypi/simple/${spelling}/`, {
          redirect: "manual",
        });
        await redirect.body?.cancel();
        assert.equal(redirect.status, 301, spelling);
        assert.equal(redirect.headers.get("location"), "/pypi/simple/vmpkg-names-demo/");
      }
      const page = await fetch(`${registry.url}/pypi/simple/vmpkg-names-demo/`, {
        headers: { accept: "application/vnd.pypi.simple.v1+json" },
      }).then((r) => r.json());
      assert.deepEqual(page.versions, ["1.0.0", "1.1"]);
      for (const spelling of ["VmPkg.Names_Demo", "vmpkg-names-demo"]) {
        const shown = await fetch(`${registry.url}/-/packages/pypi/${spelling}`);
        assert.equal(shown.status, 200, spelling);
        assert.equal((await shown.json()).versions.length, 2);
      }
      assert.equal(await upstreamRequests(registry, "pypi"), before);
    });
  } finally {
    await upstream.close();
  }
});

Deno.test("keys from clients never reach Object.prototype: 404 or 400, never 500", async () => {
  const upstream = startStandInUpstream({ size: 1024 });
  try {
    await withRegistry({
      upstreams: {
        npm_upstream: upstream.url,
        pypi_upstream: `${upstream.url}/simple`,
        pypi_files_upstream: upstream.url,
        cargo_upstream: `${upstream.url}/index`,
        cargo_files_upstream: `${upstream.url}/crates`,
      },
    }, async (registry) => {
      const name = upstream.name;
      // Each document is cached first, so the lookups below reach its file or version index.
      const warm = [
        `/pypi/simple/${name}/`,
        `/npm/${name}`,
        `/npm/${name}/1.0.0`,
        `/cargo/index/${name.slice(0, 2)}/${name.slice(2, 4)}/${name}`,
      ];
      for (const path of warm) assert.equal(await statusOf(`${registry.url}${path}`), 200, path);
      const answers: [string, number][] = [];
      for (const key of PROTOTYPE_KEYS) {
        for (
          const path of [
            `/pypi/files/${name}/${key}`,
            `/pypi/files/${name}/${key}.metadata`,
            `/npm/${name}/${key}`,
            `/npm/${name}/-/${key}.tgz`,
            `/cargo/api/v1/crates/${name}/${key}/download`,
            `/-/packages/${key}/${name}`,
            `/-/packages/${key}/${name}/claim`,
            `/-/packages?type=${key}`,
            `/-/packages/cached?type=${key}`,
            `/-/packages/npm/${key}`,
          ]
        ) {
          answers.push([path, await statusOf(`${registry.url}${path}`)]);
        }
      }
      // Header values and write routes are client keys too: an Accept type, and a dist-tag of a
      // private package (claimed here, so its dist-tags are an empty map).
      const claimed = await fetch(`${registry.url}/-/packages/npm/vmpkg-proto-demo/claim`, {
        method: "PUT",
        headers: { authorization: `Bearer ${registry.token}` },
      });
      assert.equal(claimed.status, 200, await claimed.text());
      for (const key of PROTOTYPE_KEYS) {
        const page = await fetch(`${registry.url}/pypi/simple/${name}/`, {
          headers: { accept: key },
        });
        await page.body?.cancel();
        answers.push([`Accept: ${key}`, page.status]);
        const untag = await fetch(
          `${registry.npmUrl}/-/package/vmpkg-proto-demo/dist-tags/${key}`,
          {
            method: "DELETE",
            headers: { authorization: `Bearer ${registry.token}` },
          },
        );
        await untag.body?.cancel();
        answers.push([`DELETE dist-tag ${key}`, untag.status]);
      }
      const failed = answers.filter(([, status]) => status >= 500 || status < 400);
      assert.deepEqual(failed, [], "answers outside 4xx");
      // The files themselves are still found.
      const file = await fetch(`${registry.url}/pypi/files/${name}/${upstream.filename}`);
      assert.equal(file.status, 200);
      assert.deepEqual(await readBody(file), upstream.tarball);
    });
  } finally {
    await upstream.close();
  }
});
