import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { ClientError, readLimitedBody } from "../../src/registry/request_body.ts";
import { normalizeVersion } from "../../src/registry/pypi/pep440.ts";
import {
  parseUpload,
  type PypiVersionMeta,
  readUploadForm,
} from "../../src/registry/pypi/upload_form.ts";
import { renderPrivateProject } from "../../src/registry/pypi/private_pages.ts";
import { type PackageState, PrivatePackages } from "../../src/store/private_packages.ts";

const WHEEL = "demo_pkg-1.0.0-py3-none-any.whl";
const ZIP_BYTES = new Uint8Array([0x50, 0x4b, 0x03, 0x04, 1, 2, 3, 4]);
const GZIP_BYTES = new Uint8Array([0x1f, 0x8b, 8, 0, 1, 2, 3]);

/** The form twine sends for one file; `null` drops a field. */
function form(
  overrides: Record<string, string | null> = {},
  file: { name: string; bytes: Uint8Array<ArrayBuffer> } | null = { name: WHEEL, bytes: ZIP_BYTES },
): FormData {
  const fields: Record<string, string | null> = {
    ":action": "file_upload",
    protocol_version: "1",
    name: "Demo.Pkg",
    version: "1.0.0",
    filetype: "bdist_wheel",
    pyversion: "py3",
    metadata_version: "2.1",
    requires_python: ">=3.8",
    summary: "A demo",
    description: "long text\nwith lines ".repeat(500),
    ...overrides,
  };
  const out = new FormData();
  for (const [name, value] of Object.entries(fields)) if (value !== null) out.append(name, value);
  if (file) out.append("content", new File([file.bytes], file.name));
  return out;
}

async function refusal(promise: Promise<unknown>): Promise<{ status: number; message: string }> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ClientError, String(error));
    return { status: error.status, message: error.message };
  }
  assert.fail("the upload was accepted");
}

Deno.test("PEP 440: normalized forms, and what is not a version", () => {
  const cases: [string, string][] = [
    ["1.0.0", "1.0.0"],
    ["v1.0", "1.0"],
    ["1.0.0-Alpha1", "1.0.0a1"],
    ["1.0rc", "1.0rc0"],
    ["1.0-1", "1.0.post1"],
    ["1.0.post", "1.0.post0"],
    ["1.0-dev2", "1.0.dev2"],
    ["0!01.002", "1.2"],
    ["2!1.0", "2!1.0"],
    ["1.0+Local_Build-7", "1.0+local.build.7"],
    ["1.0c1", "1.0rc1"],
  ];
  for (const [given, normalized] of cases) assert.equal(normalizeVersion(given), normalized, given);
  for (const bad of ["", "1..0", "1.0/2", "../1", "1.0 0", " 1.0", "1.0\0", "1.0\\x", "latest"]) {
    assert.equal(normalizeVersion(bad), undefined, JSON.stringify(bad));
  }
  assert.equal(normalizeVersion("1." + "0.".repeat(100) + "0"), undefined);
});

Deno.test("a well-formed upload is read with its metadata; names and versions normalized", async () => {
  const upload = await parseUpload(form());
  assert.equal(upload.project, "demo-pkg");
  assert.equal(upload.displayName, "Demo.Pkg");
  assert.equal(upload.version, "1.0.0");
  assert.equal(upload.filename, WHEEL);
  assert.deepEqual(upload.content, ZIP_BYTES);
  assert.deepEqual(upload.meta, {
    filetype: "bdist_wheel",
    pyversion: "py3",
    requiresPython: ">=3.8",
    metadataVersion: "2.1",
    summary: "A demo",
  });
  // sdists: old dashed names and zip sdists; matching digests; empty optional fields.
  const sdist = await parseUpload(form({
    name: "demo-pkg",
    version: "1.0.0rc1",
    filetype: "sdist",
    pyversion: "",
    requires_python: "",
    sha256_digest: createHash("sha256").update(GZIP_BYTES).digest("hex").toUpperCase(),
    md5_digest: createHash("md5").update(GZIP_BYTES).digest("hex"),
  }, { name: "Demo-Pkg-1.0.0-rc1.tar.gz", bytes: GZIP_BYTES }));
  assert.equal(sdist.version, "1.0.0rc1");
  assert.equal(sdist.meta.pyversion, "source");
  assert.equal(sdist.meta.requiresPython, undefined);
  const zipSdist = await parseUpload(
    form({ filetype: "sdist" }, { name: "demo_pkg-1.0.0.zip", bytes: ZIP_BYTES }),
  );
  assert.equal(zipSdist.filename, "demo_pkg-1.0.0.zip");
  const buildTag = await parseUpload(
    form({}, { name: "demo_pkg-1.0.0-1-cp311-cp311-linux_x86_64.whl", bytes: ZIP_BYTES }),
  );
  assert.equal(buildTag.project, "demo-pkg");
});

Deno.test("every malformed upload is a 400 that says what is wrong", async () => {
  const cases: [string, FormData, RegExp][] = [
    ["wrong action", form({ ":action": "submit" }), /only file_upload/],
    ["no action", form({ ":action": null }), /only file_upload/],
    ["protocol", form({ protocol_version: "2" }), /protocol_version/],
    ["no name", form({ name: null }), /no name/],
    ["bad name", form({ name: "-demo-" }), /not a valid project name/],
    ["name with space", form({ name: "demo pkg" }), /not a valid project name/],
    ["no version", form({ version: null }), /no version/],
    ["version ..", form({ version: "1..0" }), /not a valid PEP 440 version/],
    ["version /", form({ version: "1.0/../../x" }), /not a valid PEP 440 version/],
    ["version whitespace", form({ version: "1.0 " }), /not a valid PEP 440 version/],
    ["version newline", form({ version: "1.0\n" }), /not one line/],
    ["filetype", form({ filetype: "bdist_egg" }), /bdist_egg.*not supported/],
    ["no file", form({}, null), /no file in `content`/],
    [
      "content as text",
      (() => {
        const f = form({}, null);
        f.append("content", "text");
        return f;
      })(),
      /no file in `content`/,
    ],
    ["dot-dot", form({}, { name: "../" + WHEEL, bytes: ZIP_BYTES }), /must not contain a path/],
    ["slash", form({}, { name: "a/" + WHEEL, bytes: ZIP_BYTES }), /must not contain a path/],
    ["backslash", form({}, { name: "a\\" + WHEEL, bytes: ZIP_BYTES }), /must not contain a path/],
    ["hidden", form({}, { name: "." + WHEEL, bytes: ZIP_BYTES }), /not a valid distribution/],
    ["name mismatch", form({ name: "other" }), /not a file of other/],
    ["version mismatch", form({ version: "1.0.1" }), /not version 1.0.1 of demo-pkg/],
    [
      "wheel parts",
      form({}, { name: "demo_pkg-1.0.0.whl", bytes: ZIP_BYTES }),
      /not a valid wheel/,
    ],
    [
      "sdist named .whl",
      form({ filetype: "sdist" }),
      /filetype sdist, but .* is not a .tar.gz or .zip/,
    ],
    [
      "wheel named .tar.gz",
      form({}, { name: "demo_pkg-1.0.0.tar.gz", bytes: GZIP_BYTES }),
      /filetype bdist_wheel, but/,
    ],
    ["empty", form({}, { name: WHEEL, bytes: new Uint8Array() }), /is empty/],
    ["wheel not zip", form({}, { name: WHEEL, bytes: GZIP_BYTES }), /is not a zip file/],
    [
      "sdist not gzip",
      form({ filetype: "sdist" }, { name: "demo_pkg-1.0.0.tar.gz", bytes: ZIP_BYTES }),
      /is not a gzip file/,
    ],
    ["sha256", form({ sha256_digest: "0".repeat(64) }), /sha256_digest does not match/],
    ["md5", form({ md5_digest: "0".repeat(32) }), /md5_digest does not match/],
    ["long summary", form({ summary: "x".repeat(5000) }), /summary is too long/],
  ];
  for (const [what, data, message] of cases) {
    const { status, message: text } = await refusal(parseUpload(data));
    assert.equal(status, 400, what);
    assert.match(text, message, what);
  }
});

Deno.test("the upload body: not multipart, broken multipart, and the size limit", async () => {
  const post = (body: BodyInit, contentType: string) =>
    new Request("http://x/pypi/", {
      method: "POST",
      body,
      headers: { "content-type": contentType },
    });
  let result = await refusal(readUploadForm(post("{}", "application/json")));
  assert.equal(result.status, 400);
  assert.match(result.message, /multipart\/form-data/);
  result = await refusal(readUploadForm(post("garbage", "multipart/form-data; boundary=XYZ")));
  assert.equal(result.status, 400);
  assert.match(result.message, /not a valid multipart form/);

  // A chunked body (no Content-Length) is counted as it arrives and refused past the limit.
  let pulled = 0;
  const endless = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulled++;
      controller.enqueue(new Uint8Array(1024));
    },
  });
  result = await refusal(readLimitedBody(post(endless, "multipart/form-data; boundary=X"), 10_000));
  assert.equal(result.status, 413);
  assert.ok(pulled <= 12, `${pulled} chunks read`);
  // A declared length over the limit is refused before reading anything.
  const declared = new Request("http://x/pypi/", {
    method: "POST",
    body: "small",
    headers: { "content-length": String(200 * 1024 * 1024) },
  });
  assert.equal((await refusal(readUploadForm(withMultipart(declared)))).status, 413);
});

function withMultipart(request: Request): Request {
  const headers = new Headers(request.headers);
  headers.set("content-type", "multipart/form-data; boundary=X");
  return new Request(request, { headers });
}

Deno.test("a private project page lists its files in both formats", async () => {
  const state: PackageState = PrivatePackages.emptyPackage("demo-pkg", false);
  state.pkg.versions = ["1.0.0", "1.1.0"];
  const metas: Record<string, PypiVersionMeta> = {
    m1: {
      name: "Demo.Pkg",
      version: "1.0.0",
      files: {
        "demo_pkg-1.0.0.tar.gz": {
          filetype: "sdist",
          pyversion: "source",
          requiresPython: ">=3.8",
          uploadedAt: "2026-01-01T00:00:00.000Z",
        },
      },
    },
    m2: { name: "Demo.Pkg", version: "1.1.0", files: {} },
  };
  state.versions.set("1.0.0", {
    version: "1.0.0",
    publishedAt: 0,
    metaDigest: "m1",
    files: [{ filename: "demo_pkg-1.0.0.tar.gz", sha256: "a".repeat(64), size: 10 }],
  });
  state.versions.set("1.1.0", {
    version: "1.1.0",
    publishedAt: Date.parse("2026-02-01T00:00:00Z"),
    metaDigest: "m2",
    yanked: "broken",
    files: [{ filename: "demo_pkg-1.1.0-py3-none-any.whl", sha256: "b".repeat(64), size: 20 }],
  });
  const page = await renderPrivateProject(state, (v) => Promise.resolve(metas[v.metaDigest]));
  const json = JSON.parse(new TextDecoder().decode(page.json));
  assert.deepEqual(json, {
    meta: { "api-version": "1.1" },
    name: "demo-pkg",
    versions: ["1.0.0", "1.1.0"],
    files: [{
      filename: "demo_pkg-1.0.0.tar.gz",
      url: "../../files/demo-pkg/demo_pkg-1.0.0.tar.gz",
      hashes: { sha256: "a".repeat(64) },
      "requires-python": ">=3.8",
      size: 10,
      "upload-time": "2026-01-01T00:00:00.000Z",
      yanked: false,
    }, {
      filename: "demo_pkg-1.1.0-py3-none-any.whl",
      url: "../../files/demo-pkg/demo_pkg-1.1.0-py3-none-any.whl",
      hashes: { sha256: "b".repeat(64) },
      "requires-python": null,
      size: 20,
      "upload-time": "2026-02-01T00:00:00.000Z",
      yanked: "broken",
    }],
  });
  const html = new TextDecoder().decode(page.html);
  assert.match(
    html,
    new RegExp(
      `<a href="../../files/demo-pkg/demo_pkg-1.0.0.tar.gz#sha256=${"a".repeat(64)}" ` +
        `data-requires-python="&gt;=3.8">demo_pkg-1.0.0.tar.gz</a>`,
    ),
  );
  assert.match(html, /demo_pkg-1.1.0-py3-none-any.whl#sha256=b+" data-yanked="broken">/);
  assert.match(html, /<meta name="pypi:repository-version" content="1.1">/);
});
