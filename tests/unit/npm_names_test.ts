import assert from "node:assert/strict";
import {
  isValidPackageName,
  parseNpmPath,
  upstreamNamePath,
} from "../../src/registry/npm/names.ts";

Deno.test("scoped names parse the same in all three spellings", () => {
  for (const path of ["@types%2fnode", "@types%2Fnode", "@types/node"]) {
    assert.deepEqual(parseNpmPath(path), { kind: "packument", name: "@types/node" });
  }
});

Deno.test("tarball paths parse for plain and scoped names, including yarn's spelling", () => {
  assert.deepEqual(parseNpmPath("lodash/-/lodash-4.17.21.tgz"), {
    kind: "tarball",
    name: "lodash",
    filename: "lodash-4.17.21.tgz",
  });
  for (const path of ["@types/node/-/node-20.1.0.tgz", "@types%2fnode/-/node-20.1.0.tgz"]) {
    assert.deepEqual(parseNpmPath(path), {
      kind: "tarball",
      name: "@types/node",
      filename: "node-20.1.0.tgz",
    });
  }
});

Deno.test("version documents parse", () => {
  assert.deepEqual(parseNpmPath("react/18.2.0"), {
    kind: "version",
    name: "react",
    version: "18.2.0",
  });
});

Deno.test("traversal, NUL and junk never parse", () => {
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
    ]
  ) {
    assert.equal(parseNpmPath(path), undefined, path);
  }
});

Deno.test("name validation and the upstream spelling of scoped names", () => {
  assert.ok(isValidPackageName("JSONStream"));
  assert.ok(isValidPackageName("@babel/core"));
  assert.ok(!isValidPackageName("@babel/core/extra"));
  assert.equal(upstreamNamePath("@babel/core"), "@babel%2Fcore");
  assert.equal(upstreamNamePath("lodash"), "lodash");
});
