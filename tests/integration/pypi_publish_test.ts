// Private PyPI packages: published with the real twine, `uv publish` and `vm pkg add`'s own
// client, installed back with the real pip and uv, through the real server, with the real PyPI as
// upstream (the stand-in upstream only where a test must count upstream requests).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { basename, join } from "node:path";
import { buildPypi, isPypiProject, uploadPypi } from "../../src/publish/pypi.ts";
import { PublishError } from "../../src/publish/types.ts";
import { ALLOW_SHADOW_HEADER } from "../../src/registry/private_policy.ts";
import {
  distFiles,
  hasPython,
  installFromPypi,
  installUv,
  makeVenv,
  pipInstall,
  run,
  uvInstall,
  writeDemoProject,
} from "../support/python_clients.ts";
import { readBody, tempFiles, type TestRegistry, withRegistry } from "../support/registry.ts";
import { startStandInUpstream } from "../support/stand_in_upstream.ts";

const pythonMissing = !(await hasPython());
if (pythonMissing) console.warn("skipping PyPI publish tests: python3 with venv is not installed");

const PIP_ACCEPT =
  "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01";
/** Not on the public PyPI (the first upload would be refused as shadowing if it were). */
const DEMO = { name: "vm-pkg-test-publish-demo", module: "vm_pkg_test_publish_demo" };

interface Listed {
  name: string;
  shadowsUpstream: boolean;
  versions: { version: string; files: { filename: string; sha256: string; size: number }[] }[];
}

async function privatePypi(registry: TestRegistry): Promise<Listed[]> {
  const response = await fetch(`${registry.url}/-/packages?type=pypi`);
  assert.equal(response.status, 200);
  return (await response.json()).packages;
}

async function pypiCounters(registry: TestRegistry) {
  return (await registry.status()).ecosystems.pypi;
}

async function page(registry: TestRegistry, project: string, accept = PIP_ACCEPT) {
  const response = await fetch(`${registry.url}/pypi/simple/${project}/`, { headers: { accept } });
  return { status: response.status, headers: response.headers, body: await response.text() };
}

/** The form twine sends; `null` drops a field, `content: null` drops the file. */
function uploadForm(
  fields: Record<string, string | null>,
  content: { name: string; bytes: Uint8Array<ArrayBuffer> } | null,
): FormData {
  const form = new FormData();
  const all: Record<string, string | null> = {
    ":action": "file_upload",
    protocol_version: "1",
    metadata_version: "2.1",
    filetype: "bdist_wheel",
    pyversion: "py3",
    requires_python: ">=3.8",
    summary: "hand-made",
    ...fields,
  };
  for (const [name, value] of Object.entries(all)) if (value !== null) form.append(name, value);
  if (content) form.append("content", new File([content.bytes], content.name));
  return form;
}

function upload(
  registry: TestRegistry,
  body: BodyInit,
  options: { token?: string | null; headers?: Record<string, string>; path?: string } = {},
): Promise<Response> {
  const token = options.token === undefined ? registry.token : options.token;
  const headers: Record<string, string> = { ...options.headers };
  if (token !== null) headers.authorization = `Basic ${btoa(`__token__:${token}`)}`;
  return fetch(`${registry.url}${options.path ?? "/pypi/legacy/"}`, {
    method: "POST",
    headers,
    body,
  });
}

/** A "wheel" with the zip magic: enough for the server, which never unpacks uploads. */
function fakeZip(size = 64): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(size);
  crypto.getRandomValues(bytes);
  bytes.set([0x50, 0x4b, 0x03, 0x04]);
  return bytes;
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** A POST with a Content-Length far over the limit and no body: the server must not wait for it. */
async function rawOversizedPost(registry: TestRegistry): Promise<number> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: registry.port });
  const request = [
    "POST /pypi/legacy/ HTTP/1.1",
    `host: 127.0.0.1:${registry.port}`,
    `authorization: Basic ${btoa(`__token__:${registry.token}`)}`,
    "content-type: multipart/form-data; boundary=XYZ",
    `content-length: ${200 * 1024 * 1024}`,
    "connection: close",
  ];
  await conn.write(new TextEncoder().encode(request.join("\r\n") + "\r\n\r\n--XYZ\r\n"));
  // Only the status line: the server answers at once but (like any HTTP/1.1 server) keeps the
  // connection until the declared body arrived or the client goes away.
  const reader = conn.readable.getReader();
  let head = "";
  while (!head.includes("\r\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    head += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  conn.close();
  return Number(head.split(" ")[1]);
}

Deno.test({
  name: "twine and uv publish private packages; pip and uv install them; public names need consent",
  ignore: pythonMissing,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "vm-pypi-publish-" });
    try {
      // twine 6.2+ refuses --skip-existing for any index but PyPI's own (a client-side check),
      // so the server's side of it (409 + "already exists") is exercised with twine 6.1.
      const [tools, oldTwine, uv] = await Promise.all([
        installFromPypi(join(dir, "tools"), ["twine", "build", "setuptools>=70.1"]),
        installFromPypi(join(dir, "twine-6.1"), ["twine==6.1.0"]),
        installUv(join(dir, "uv")),
      ]);
      // Builds in the tools venv without isolation: no index needed, and fast.
      const build = async (project: { name: string; version: string; module: string }) => {
        const source = join(dir, `src-${project.name}-${project.version}`);
        const out = join(dir, `dist-${project.name}-${project.version}`);
        await writeDemoProject(source, project);
        const result = await run(join(tools, "python"), [
          "-m",
          "build",
          "--no-isolation",
          "--outdir",
          out,
          source,
        ]);
        assert.equal(result.code, 0, result.stderr);
        return await distFiles(out);
      };

      await withRegistry({}, async (registry) => {
        const twine = (files: string[], ...extra: string[]) =>
          run(join(extra.includes("--skip-existing") ? oldTwine : tools, "twine"), [
            "upload",
            "--repository-url",
            `${registry.url}/pypi/legacy/`,
            "-u",
            "__token__",
            "-p",
            registry.token,
            "--non-interactive",
            "--disable-progress-bar",
            ...extra,
            ...files,
          ]);
        const v1 = await build({ ...DEMO, version: "1.0.0" });

        await t.step("twine uploads an sdist and a wheel into one version", async () => {
          assert.equal(v1.length, 2, v1.join());
          const result = await twine(v1);
          assert.equal(result.code, 0, result.stdout + result.stderr);
          const [listed] = await privatePypi(registry);
          assert.equal(listed.name, DEMO.name);
          assert.equal(listed.shadowsUpstream, false);
          assert.deepEqual(listed.versions.map((v) => v.version), ["1.0.0"]);
          const uploaded = listed.versions[0].files.map((f) => f.filename).sort();
          assert.deepEqual(uploaded, v1.map((path) => basename(path)).sort());
          for (const path of v1) {
            const file = listed.versions[0].files.find((f) => f.filename === basename(path))!;
            assert.equal(file.sha256, sha256(await Deno.readFile(path)));
          }
        });

        await t.step(
          "a repeated upload is 409 'already exists'; --skip-existing passes",
          async () => {
            // twine shows the server's message with --verbose (PyPI puts it in the reason phrase).
            const again = await twine(v1, "--verbose");
            assert.notEqual(again.code, 0);
            // rich wraps twine's output at 80 columns.
            const output = (again.stdout + again.stderr).replace(/\s+/g, " ");
            assert.match(output, /409 Conflict/);
            assert.match(output, /whl already exists in vm-pkg-test-publish-demo/);
            const skipped = await twine(v1, "--skip-existing");
            assert.equal(skipped.code, 0, skipped.stdout + skipped.stderr);
            assert.match(skipped.stdout + skipped.stderr, /Skipping/);
          },
        );

        await t.step("uv publish adds a second version at /pypi/", async () => {
          const v2 = await build({ ...DEMO, version: "1.1.0" });
          const result = await run(uv, [
            "publish",
            "--no-config",
            "--publish-url",
            `${registry.url}/pypi/`,
            "--token",
            registry.token,
            ...v2,
          ]);
          assert.equal(result.code, 0, result.stdout + result.stderr);
          const [listed] = await privatePypi(registry);
          assert.deepEqual(listed.versions.map((v) => v.version), ["1.0.0", "1.1.0"]);
          assert.equal(listed.versions[1].files.length, 2);
        });

        await t.step("pip and uv install the private versions back", async () => {
          const index = `${registry.url}/pypi/simple/`;
          const check = `import ${DEMO.module}; print(${DEMO.module}.__version__)`;
          const pipVenv = await makeVenv(join(dir, "pip-venv"));
          const installed = await pipInstall(pipVenv, index, [DEMO.name]);
          assert.equal(installed.code, 0, installed.stderr);
          const pipImport = await run(pipVenv, ["-c", check]);
          assert.equal(pipImport.stdout.trim(), "1.1.0", pipImport.stderr);

          const uvVenv = await makeVenv(join(dir, "uv-venv"));
          const uvInstalled = await uvInstall(uv, uvVenv, index, [`${DEMO.name}==1.0.0`]);
          assert.equal(uvInstalled.code, 0, uvInstalled.stderr);
          const uvImport = await run(uvVenv, ["-c", check]);
          assert.equal(uvImport.stdout.trim(), "1.0.0", uvImport.stderr);
          assert.deepEqual(await tempFiles(registry.dataDir), []);
        });
      });

      await withRegistry({}, async (registry) => {
        const [wheelPath] = (await build({ name: "six", version: "99.0.0", module: "six" }))
          .filter((path) => path.endsWith(".whl"));
        const wheel = await Deno.readFile(wheelPath);
        const form = () =>
          uploadForm({ name: "six", version: "99.0.0", sha256_digest: sha256(wheel) }, {
            name: basename(wheelPath),
            bytes: wheel,
          });

        await t.step("a public name is refused without the allow-shadow header", async () => {
          const before = await page(registry, "six");
          assert.equal(before.status, 200);
          const blobs = (await registry.status()).cache.blobs;
          const refused = await upload(registry, form());
          assert.equal(refused.status, 409);
          assert.match((await refused.json()).error, /exists on the public registry.*allow-shadow/);
          assert.deepEqual(await privatePypi(registry), []);
          assert.equal((await registry.status()).cache.blobs, blobs);
          assert.deepEqual(await tempFiles(registry.dataDir), []);
          assert.match((await page(registry, "six")).body, /six-1\.16\.0-py2\.py3-none-any\.whl/);
        });

        await t.step("with it, the name is private: only the private file is served", async () => {
          const accepted = await upload(registry, form(), {
            headers: { [ALLOW_SHADOW_HEADER]: "true" },
          });
          assert.equal(accepted.status, 200, await accepted.text());
          const [listed] = await privatePypi(registry);
          assert.equal(listed.name, "six");
          assert.equal(listed.shadowsUpstream, true);
          const upstreamBefore = (await pypiCounters(registry)).upstreamRequests;

          const json = JSON.parse((await page(registry, "six")).body);
          assert.deepEqual(json.versions, ["99.0.0"]);
          assert.deepEqual(json.files.map((f: { filename: string }) => f.filename), [
            basename(wheelPath),
          ]);
          const html = (await page(registry, "six", "text/html")).body;
          assert.equal([...html.matchAll(/<a /g)].length, 1);
          assert.match(html, new RegExp(`${basename(wheelPath)}#sha256=${sha256(wheel)}`));
          const publicFile = await fetch(
            `${registry.url}/pypi/files/six/six-1.16.0-py2.py3-none-any.whl`,
          );
          assert.equal(publicFile.status, 404);
          await publicFile.body?.cancel();

          const venv = await makeVenv(join(dir, "six-venv"));
          const installed = await pipInstall(venv, `${registry.url}/pypi/simple/`, ["six"]);
          assert.equal(installed.code, 0, installed.stderr);
          const imported = await run(venv, ["-c", "import six; print(six.__version__)"]);
          assert.equal(imported.stdout.trim(), "99.0.0", imported.stderr);
          assert.equal((await pypiCounters(registry)).upstreamRequests, upstreamBefore);
        });
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("uploads need the token; malformed uploads are refused and leave nothing behind", async () => {
  await withRegistry({}, async (registry) => {
    const wheel = fakeZip();
    const filename = "vm_pkg_test_publish_demo-2.0.0-py3-none-any.whl";
    const fields = { name: DEMO.name, version: "2.0.0", sha256_digest: sha256(wheel) };
    const good = () => uploadForm(fields, { name: filename, bytes: wheel });
    const blobs = (await registry.status()).cache.blobs;

    for (const token of [null, "vmpkg_wrong"]) {
      const refused = await upload(registry, good(), { token });
      assert.equal(refused.status, 401, `token ${token}`);
      assert.match(refused.headers.get("www-authenticate") ?? "", /^Basic/);
      assert.match((await refused.json()).error, /token/);
    }

    const file = (name: string, bytes: Uint8Array<ArrayBuffer> = wheel) => ({ name, bytes });
    const malformed: [string, () => BodyInit, Record<string, string>?][] = [
      ["broken multipart", () => "--XYZ\r\nnonsense", {
        "content-type": "multipart/form-data; boundary=XYZ",
      }],
      ["not a form", () => JSON.stringify(fields), { "content-type": "application/json" }],
      ["no content", () => uploadForm(fields, null)],
      ["empty content", () => uploadForm(fields, file(filename, new Uint8Array()))],
      ["../ in the file name", () => uploadForm(fields, file(`../${filename}`))],
      ["/ in the file name", () => uploadForm(fields, file(`x/${filename}`))],
      ["name mismatch", () => uploadForm({ ...fields, name: "other-name" }, file(filename))],
      ["invalid name", () => uploadForm({ ...fields, name: "../x" }, file(filename))],
      ["version ..", () => uploadForm({ ...fields, version: "2..0" }, file(filename))],
      ["version /", () => uploadForm({ ...fields, version: "2.0/../1" }, file(filename))],
      ["version mismatch", () => uploadForm({ ...fields, version: "2.0.1" }, file(filename))],
      [
        "sha256 mismatch",
        () => uploadForm({ ...fields, sha256_digest: "0".repeat(64) }, file(filename)),
      ],
      [
        "not a zip",
        () =>
          uploadForm({ ...fields, sha256_digest: null }, file(filename, new Uint8Array([1, 2, 3]))),
      ],
      [
        "sdist type for a wheel",
        () => uploadForm({ ...fields, filetype: "sdist" }, file(filename)),
      ],
    ];
    for (const [what, body, headers] of malformed) {
      const refused = await upload(registry, body(), { headers });
      assert.equal(refused.status, 400, what);
      assert.ok((await refused.json()).error, what);
    }
    assert.equal(await rawOversizedPost(registry), 413);

    assert.deepEqual(await privatePypi(registry), []);
    assert.equal((await registry.status()).cache.blobs, blobs);
    assert.deepEqual(await tempFiles(registry.dataDir), []);
    // Nothing was even looked up upstream: every check comes before the one-source rule.
    assert.equal((await pypiCounters(registry)).upstreamRequests, 0);

    // The same request, well-formed, is accepted (so the refusals above were for their reasons).
    const accepted = await upload(registry, good());
    assert.equal(accepted.status, 200);
    assert.match(await accepted.text(), /published/);
    const duplicate = await upload(registry, good(), { path: "/pypi/" });
    assert.equal(duplicate.status, 409);
    assert.match((await duplicate.json()).error, /already exists/);
    assert.equal((await privatePypi(registry))[0].versions[0].files.length, 1);
  });
});

Deno.test("a private project's page and files: both formats, sdist beside wheel, ETag, 404s", async () => {
  await withRegistry({}, async (registry) => {
    const wheel = fakeZip(3000);
    const sdist = new Uint8Array([0x1f, 0x8b, ...fakeZip(100)]);
    const files = [
      {
        name: "vm_pkg_test_publish_demo-3.0.0-py3-none-any.whl",
        bytes: wheel,
        type: "bdist_wheel",
      },
      { name: "vm_pkg_test_publish_demo-3.0.0.tar.gz", bytes: sdist, type: "sdist" },
    ];
    for (const { name, bytes, type } of files) {
      const response = await upload(
        registry,
        uploadForm({ name: "VM_Pkg_Test.Publish-Demo", version: "3.0.0", filetype: type }, {
          name,
          bytes,
        }),
      );
      assert.equal(response.status, 200, await response.text());
    }
    const [listed] = await privatePypi(registry);
    assert.equal(listed.name, DEMO.name);
    assert.deepEqual(listed.versions.map((v) => v.files.length), [2]);

    const json = await page(registry, DEMO.name);
    assert.equal(json.headers.get("content-type"), "application/vnd.pypi.simple.v1+json");
    assert.match(json.headers.get("vary") ?? "", /Accept/);
    const doc = JSON.parse(json.body);
    assert.equal(doc.meta["api-version"], "1.1");
    assert.deepEqual(doc.versions, ["3.0.0"]);
    const [wheelEntry, sdistEntry] = doc.files;
    assert.equal(wheelEntry.url, `../../files/${DEMO.name}/${files[0].name}`);
    assert.equal(wheelEntry.hashes.sha256, sha256(wheel));
    assert.equal(wheelEntry["requires-python"], ">=3.8");
    assert.equal(wheelEntry.size, 3000);
    assert.equal(wheelEntry.yanked, false);
    assert.ok(Date.parse(wheelEntry["upload-time"]) > Date.now() - 60_000);
    assert.equal(sdistEntry.filename, files[1].name);

    const html = await page(registry, DEMO.name, "text/html");
    assert.equal(html.headers.get("content-type"), "text/html; charset=utf-8");
    assert.match(
      html.body,
      new RegExp(`${files[1].name}#sha256=${sha256(sdist)}" data-requires-python="&gt;=3.8"`),
    );
    const etag = json.headers.get("etag")!;
    const revalidated = await fetch(`${registry.url}/pypi/simple/${DEMO.name}/`, {
      headers: { accept: PIP_ACCEPT, "if-none-match": etag },
    });
    assert.equal(revalidated.status, 304);
    await revalidated.body?.cancel();

    const downloaded = await fetch(
      new URL(wheelEntry.url, `${registry.url}/pypi/simple/${DEMO.name}/`),
    );
    assert.equal(downloaded.headers.get("content-type"), "application/zip");
    assert.deepEqual(await readBody(downloaded), wheel);
    const ranged = await fetch(`${registry.url}/pypi/files/${DEMO.name}/${files[0].name}`, {
      headers: { range: "bytes=-10" },
    });
    assert.equal(ranged.status, 206);
    assert.deepEqual(await readBody(ranged), wheel.slice(-10));
    for (const missing of [`${files[0].name}.metadata`, "vm_pkg_test_publish_demo-9.tar.gz"]) {
      const response = await fetch(`${registry.url}/pypi/files/${DEMO.name}/${missing}`);
      assert.equal(response.status, 404, missing);
      await response.body?.cancel();
    }
  });
});

Deno.test("a shadowed project never reaches upstream again, even with no versions left", async () => {
  const upstream = startStandInUpstream({ name: "vm-shadowed-demo" });
  try {
    await withRegistry({
      upstreams: {
        pypi_upstream: `${upstream.url}/simple`,
      },
      metadataTtlSeconds: 0,
    }, async (registry) => {
      const wheel = fakeZip();
      const body = () =>
        uploadForm({ name: upstream.name, version: "5.0.0" }, {
          name: "vm_shadowed_demo-5.0.0-py3-none-any.whl",
          bytes: wheel,
        });
      const refused = await upload(registry, body());
      assert.equal(refused.status, 409);
      await refused.body?.cancel();
      const accepted = await upload(registry, body(), {
        headers: { [ALLOW_SHADOW_HEADER]: "true" },
      });
      assert.equal(accepted.status, 200);
      await accepted.body?.cancel();
      const lookups = upstream.pageRequests;
      assert.equal(lookups, 2); // the two one-source checks; TTL 0 makes each one ask

      const doc = JSON.parse((await page(registry, upstream.name)).body);
      assert.deepEqual(doc.files.map((f: { filename: string }) => f.filename), [
        "vm_shadowed_demo-5.0.0-py3-none-any.whl",
      ]);
      const publicFile = await fetch(
        `${registry.url}/pypi/files/${upstream.name}/${upstream.filename}`,
      );
      assert.equal(publicFile.status, 404);
      await publicFile.body?.cancel();

      // Every version removed: the name stays private, and has no page (not the upstream one).
      const removed = await fetch(`${registry.url}/-/packages/pypi/${upstream.name}`, {
        method: "DELETE",
        headers: { authorization: `Bearer ${registry.token}` },
      });
      assert.equal(removed.status, 200);
      await removed.body?.cancel();
      const empty = await page(registry, upstream.name);
      assert.equal(empty.status, 404);
      assert.match(empty.body, /private/);
      assert.equal(upstream.pageRequests, lookups);
      assert.equal(upstream.tarballRequests, 0);
    });
  } finally {
    await upstream.close();
  }
});

Deno.test({
  name: "vm pkg add's client builds a project, uploads it, and pip installs it back",
  ignore: pythonMissing,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "vm-pypi-add-" });
    try {
      const project = join(dir, "project");
      assert.equal(await isPypiProject(dir), false);
      await assert.rejects(buildPypi(dir), PublishError);
      const demo = {
        name: "VM_Pkg_Test.Add-Demo",
        version: "0.3.0",
        module: "vm_pkg_test_add_demo",
      };
      await writeDemoProject(project, demo);
      assert.equal(await isPypiProject(project), true);

      const built = await buildPypi(project);
      assert.equal(built.type, "pypi");
      assert.equal(built.name, "vm-pkg-test-add-demo");
      assert.equal(built.version, "0.3.0");
      assert.ok(built.files.some((file) => file.filename.endsWith(".whl")));
      await withRegistry({}, async (registry) => {
        const options = { registryUrl: registry.url, token: registry.token, allowShadow: false };
        await uploadPypi(built, options);
        const again = await uploadPypi(built, options).catch((error) => error);
        assert.ok(again instanceof PublishError);
        assert.equal(again.status, 409);
        assert.match(again.message, /already exists/);
        const wrongToken = await uploadPypi(built, { ...options, token: "nope" }).catch((e) => e);
        assert.equal(wrongToken.status, 401);

        const venv = await makeVenv(join(dir, "venv"));
        const installed = await pipInstall(venv, `${registry.url}/pypi/simple/`, [demo.name]);
        assert.equal(installed.code, 0, installed.stderr);
        const check = `import ${demo.module}; print(${demo.module}.__version__)`;
        assert.equal((await run(venv, ["-c", check])).stdout.trim(), "0.3.0");
      });
      await Deno.remove(join(built.files[0].path, ".."), { recursive: true });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
