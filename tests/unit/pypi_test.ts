import assert from "node:assert/strict";
import { negotiateSimpleFormat } from "../../src/registry/pypi/content_type.ts";
import { normalizeProjectName } from "../../src/registry/pypi/names.ts";
import { pypi } from "../../src/registry/pypi/mod.ts";
import { answer, matched, routesOf } from "../support/routes.ts";
import { processProjectPage, processRootPage } from "../../src/registry/pypi/simple_page.ts";

const encode = (value: unknown) =>
  new TextEncoder().encode(typeof value === "string" ? value : JSON.stringify(value));

Deno.test("PEP 503 normalization", () => {
  assert.equal(normalizeProjectName("Django_REST.framework"), "django-rest-framework");
  assert.equal(normalizeProjectName("zope.interface"), "zope-interface");
  assert.equal(normalizeProjectName("a--b__c..d"), "a-b-c-d");
});

Deno.test("Simple API paths: pages, redirects, files, and junk", async () => {
  const routes = routesOf(pypi);
  const get = (path: string) => matched(routes, "GET", `/pypi/${path}`);
  const location = async (path: string) => {
    const response = await answer(routes, "GET", `/pypi/${path}`);
    assert.equal(response.status, 301, path);
    return response.headers.get("location");
  };
  assert.equal(get("simple/")?.pattern, "/pypi/simple/");
  assert.equal(await location("simple"), "/pypi/simple/");
  assert.equal((await answer(routes, "GET", "/pypi")).headers.get("location"), "/pypi/simple/");
  assert.deepEqual(get("simple/requests/"), {
    pattern: "/pypi/simple/:project/",
    params: { name: "requests", normalized: "requests" },
  });
  for (const path of ["simple/Requests/", "simple/requests", "simple/Zope.Interface"]) {
    assert.match((await location(path))!, /^\/pypi\/simple\/[a-z-]+\/$/, path);
  }
  assert.equal(await location("simple/Zope.Interface"), "/pypi/simple/zope-interface/");
  assert.deepEqual(get("files/six/six-1.16.0-py2.py3-none-any.whl.metadata"), {
    pattern: "/pypi/files/:project/:file",
    params: { project: "six", filename: "six-1.16.0-py2.py3-none-any.whl", metadata: true },
  });
  for (
    const path of [
      "simple/../etc/",
      "simple/-bad-/",
      "simple/a/b/",
      "files/six/..",
      "files/six/.hidden",
      "files/Six/six-1.0.tar.gz",
      "files/six/a%2f..%2fb",
      "files/six/x%00y",
      "other",
      `simple/${"a".repeat(201)}/`,
    ]
  ) {
    assert.equal(routes.match("GET", `/pypi/${path}`).kind, "none", path);
  }
});

Deno.test("content negotiation follows pip's and uv's Accept headers", () => {
  const pip =
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01";
  assert.equal(negotiateSimpleFormat(pip)?.type, "application/vnd.pypi.simple.v1+json");
  assert.equal(negotiateSimpleFormat(null)?.type, "text/html");
  assert.equal(negotiateSimpleFormat("*/*")?.type, "text/html");
  assert.equal(
    negotiateSimpleFormat("text/html, application/vnd.pypi.simple.v1+json;q=0.5")?.json,
    false,
  );
  assert.equal(negotiateSimpleFormat("application/vnd.pypi.simple.latest+json")?.json, true);
  assert.equal(negotiateSimpleFormat("application/xml"), undefined);
  assert.equal(negotiateSimpleFormat("application/vnd.pypi.simple.v1+json;q=0"), undefined);
});

const hash = "a".repeat(64);
const metaHash = "b".repeat(64);
const upstreamPage = {
  meta: { "api-version": "1.1", "_last-serial": 42 },
  name: "demo",
  versions: ["1.0", "2.0"],
  files: [
    {
      filename: "demo-1.0.tar.gz",
      url: "https://files.pythonhosted.org/packages/aa/bb/demo-1.0.tar.gz",
      hashes: { sha256: hash },
      "requires-python": ">=3.8",
      yanked: "broken build",
      size: 1234,
      "upload-time": "2024-01-01T00:00:00.000000Z",
    },
    {
      filename: "demo-2.0-py3-none-any.whl",
      url: "https://files.pythonhosted.org/packages/cc/dd/demo-2.0-py3-none-any.whl",
      hashes: { sha256: hash },
      "requires-python": null,
      yanked: false,
      "core-metadata": { sha256: metaHash },
      "data-dist-info-metadata": { sha256: metaHash },
    },
  ],
};
const pageUrl = "https://pypi.org/simple/demo/";
/** A rule that keeps every http(s) link (the registry's own rule is tested on its own). */
const anyHttp = (link: URL) => link.protocol.startsWith("http") ? link.href : undefined;

Deno.test("project pages keep every field and point files at this server", () => {
  const page = processProjectPage(
    "demo",
    encode(upstreamPage),
    "application/json",
    pageUrl,
    anyHttp,
  );
  const json = JSON.parse(new TextDecoder().decode(page.json));
  assert.deepEqual(json.versions, ["1.0", "2.0"]);
  assert.equal(json.meta["_last-serial"], 42);
  const [sdist, wheel] = json.files;
  assert.equal(sdist.url, "../../files/demo/demo-1.0.tar.gz");
  assert.equal(sdist.yanked, "broken build");
  assert.equal(sdist.size, 1234);
  assert.equal(sdist["upload-time"], "2024-01-01T00:00:00.000000Z");
  assert.equal(sdist["requires-python"], ">=3.8");
  assert.deepEqual(wheel["core-metadata"], { sha256: metaHash });
  assert.deepEqual(page.files["demo-2.0-py3-none-any.whl"], {
    url: "https://files.pythonhosted.org/packages/cc/dd/demo-2.0-py3-none-any.whl",
    sha256: hash,
    metadataSha256: metaHash,
  });

  const html = new TextDecoder().decode(page.html);
  assert.match(html, /<meta name="pypi:repository-version" content="1.1">/);
  assert.match(
    html,
    new RegExp(
      `<a href="../../files/demo/demo-1.0.tar.gz#sha256=${hash}" data-requires-python="&gt;=3.8" data-yanked="broken build">demo-1.0.tar.gz</a>`,
    ),
  );
  assert.match(html, new RegExp(`data-core-metadata="sha256=${metaHash}"`));
});

Deno.test("HTML-only upstream pages are understood too", () => {
  const html = `<html><body>
    <a href="/packages/x/demo-1.0.tar.gz#sha256=${hash}" data-requires-python="&gt;=3.8" data-yanked>demo-1.0.tar.gz</a>
    <a href="https://files.example/demo-2.0-py3-none-any.whl#sha256=${hash}" data-dist-info-metadata="sha256=${metaHash}">demo-2.0-py3-none-any.whl</a>
  </body></html>`;
  const page = processProjectPage("demo", encode(html), "text/html", pageUrl, anyHttp);
  assert.equal(page.files["demo-1.0.tar.gz"].url, "https://pypi.org/packages/x/demo-1.0.tar.gz");
  assert.equal(page.files["demo-2.0-py3-none-any.whl"].metadataSha256, metaHash);
  const json = JSON.parse(new TextDecoder().decode(page.json));
  assert.equal(json.files[0].yanked, true);
  assert.equal(json.files[0]["requires-python"], ">=3.8");
});

Deno.test("the project list links relatively and keeps names", () => {
  const root = processRootPage(
    encode({ meta: { "api-version": "1.1" }, projects: [{ name: "Flask_Login" }] }),
    "application/vnd.pypi.simple.v1+json",
  );
  assert.match(new TextDecoder().decode(root.html), /<a href="flask-login\/">Flask_Login<\/a>/);
  assert.deepEqual(JSON.parse(new TextDecoder().decode(root.json)).projects, [
    { name: "Flask_Login" },
  ]);
});

Deno.test("links the rule refuses are dropped from the page and the file index", () => {
  const onIndex = (link: URL) => link.origin === "https://pypi.org" ? link.href : undefined;
  const page = processProjectPage(
    "demo",
    encode({
      name: "demo",
      files: [
        {
          filename: "demo-1.0.tar.gz",
          url: "/packages/demo-1.0.tar.gz",
          hashes: { sha256: hash },
          size: 10,
        },
        { filename: "token.tar.gz", url: "file:///data/token", hashes: { sha256: hash } },
        { filename: "other.tar.gz", url: "http://127.0.0.1:5000/x", hashes: { sha256: hash } },
        { filename: "bad.tar.gz", url: "http://[::1", hashes: { sha256: hash } },
      ],
    }),
    "application/json",
    pageUrl,
    onIndex,
  );
  assert.deepEqual(Object.keys(page.files), ["demo-1.0.tar.gz"]);
  assert.deepEqual(page.files["demo-1.0.tar.gz"], {
    url: "https://pypi.org/packages/demo-1.0.tar.gz",
    sha256: hash,
    metadataSha256: undefined,
    size: 10,
  });
  assert.deepEqual(page.dropped, ["file:///data/token", "http://127.0.0.1:5000/x", "http://[::1"]);
  const json = JSON.parse(new TextDecoder().decode(page.json));
  assert.deepEqual(json.files.map((f: { filename: string }) => f.filename), ["demo-1.0.tar.gz"]);
  const html = new TextDecoder().decode(page.html);
  assert.doesNotMatch(html, /token|other|bad/);

  const fromHtml = processProjectPage(
    "demo",
    encode(`<a href="file:///data/token#sha256=${hash}">token.tar.gz</a>
      <a href="http://[::1#sha256=${hash}">bad.tar.gz</a>`),
    "text/html",
    pageUrl,
    onIndex,
  );
  assert.deepEqual(fromHtml.files, {});
  assert.equal(fromHtml.dropped.length, 2);
});
