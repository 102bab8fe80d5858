import assert from "node:assert/strict";
import { isValidPackageName, upstreamNamePath } from "../../src/registry/npm/names.ts";
import { npm } from "../../src/registry/npm/mod.ts";
import { matched, routesOf } from "../support/routes.ts";

const routes = routesOf(npm);
const get = (path: string) => matched(routes, "GET", `/npm/${path}`);

Deno.test("scoped names take the packument route the same in all three spellings", () => {
  for (const path of ["@types%2fnode", "@types%2Fnode", "@types/node"]) {
    assert.deepEqual(get(path), { pattern: "/npm/:package+", params: { name: "@types/node" } });
  }
  assert.deepEqual(get("lodash/"), { pattern: "/npm/:package+", params: { name: "lodash" } });
});

Deno.test("tarball paths match for plain and scoped names, including yarn's spelling", () => {
  assert.deepEqual(get("lodash/-/lodash-4.17.21.tgz"), {
    pattern: "/npm/:package+/-/:file",
    params: { name: "lodash", filename: "lodash-4.17.21.tgz" },
  });
  for (const path of ["@types/node/-/node-20.1.0.tgz", "@types%2fnode/-/node-20.1.0.tgz"]) {
    assert.deepEqual(get(path), {
      pattern: "/npm/:package+/-/:file",
      params: { name: "@types/node", filename: "node-20.1.0.tgz" },
    });
  }
});

Deno.test("version documents, and the write routes by method", () => {
  assert.deepEqual(get("react/18.2.0"), {
    pattern: "/npm/:package+/:version",
    params: { name: "react", version: "18.2.0" },
  });
  assert.deepEqual(matched(routes, "DELETE", "/npm/@s/n/-rev/3-abc"), {
    pattern: "/npm/:package+/-rev/:rev",
    params: { name: "@s/n", rev: "3-abc" },
  });
  assert.deepEqual(matched(routes, "DELETE", "/npm/n/-/n-1.0.0.tgz/-rev/3-abc"), {
    pattern: "/npm/:package+/-/:file/-rev/:rev",
    params: { name: "n", filename: "n-1.0.0.tgz", rev: "3-abc" },
  });
  assert.equal(matched(routes, "PUT", "/npm/@s%2fn")?.params instanceof Object, true);
  // A revision is only written: GET finds the route but not the method.
  const read = routes.match("GET", "/npm/n/-rev/3-abc");
  assert.equal(read.kind, "method");
  assert.deepEqual(read.kind === "method" && read.allow, ["PUT", "DELETE"]);
});

Deno.test("traversal, NUL and junk match no route", () => {
  for (
    const path of [
      "..",
      "../etc/passwd",
      "%2e%2e/x",
      ".hidden",
      "a/-/../../x.tgz",
      "a/-/.x.tgz",
      "foo%00bar",
      "@/x",
      "@scope",
      "a/b/c/d",
      "%E0%A4%A",
      "a%2f..%2f..",
      "x".repeat(215),
      "-/foo", // the registry's own namespace, not a package named "-"
      "-/-/--1.0.0.tgz",
    ]
  ) {
    for (const method of ["GET", "PUT", "DELETE"]) {
      assert.equal(routes.match(method, `/npm/${path}`).kind, "none", `${method} ${path}`);
    }
  }
});

Deno.test("name validation and the upstream spelling of scoped names", () => {
  assert.ok(isValidPackageName("JSONStream"));
  assert.ok(isValidPackageName("@babel/core"));
  assert.ok(!isValidPackageName("@babel/core/extra"));
  assert.equal(upstreamNamePath("@babel/core"), "@babel%2Fcore");
  assert.equal(upstreamNamePath("lodash"), "lodash");
});
