// GOPROXY paths, module paths and versions: the rules of golang.org/x/mod/module.
import assert from "node:assert/strict";
import {
  checkModulePath,
  escapeForUrl,
  parseGoPath,
  unescape,
  unescapeModulePath,
} from "../../src/registry/go/names.ts";
import { canonicalVersion, fileVersionProblem } from "../../src/registry/go/versions.ts";

Deno.test("module paths: valid ones as module.CheckPath accepts them", () => {
  for (
    const path of [
      "x.y",
      "x.y/z",
      "github.com/google/uuid",
      "github.com/BurntSushi/toml",
      "golang.org/x/text",
      "example.com/foo/v2",
      "example.com/foo.v1/bar",
      "gopkg.in/yaml.v2",
      "gopkg.in/check.v1",
      "gopkg.in/foo.v0",
      "example.com/a~b/c_d-e.f",
      "example.com/v1x",
    ]
  ) {
    assert.equal(checkModulePath(path), undefined, path);
  }
});

Deno.test("module paths: invalid ones are refused with the reason", () => {
  const cases: [string, RegExp][] = [
    ["", /empty/],
    ["x", /missing dot/],
    ["X.y/z", /first path element/],
    ["-x.y/z", /leading dash/],
    ["x_y.com/z", /first path element/],
    ["x.y//z", /double slash/],
    ["x.y/z/", /trailing slash/],
    ["/x.y/z", /empty path element/],
    ["x.y/.z", /leading dot/],
    ["x.y/z.", /trailing dot/],
    ["x.y/..", /invalid path element/],
    ["x.y/../etc", /invalid path element/],
    ["x.y/./z", /invalid path element/],
    ["x.y/con", /Windows/],
    ["x.y/Aux.txt", /Windows/],
    ["x.y/z~1", /tilde/],
    ["x.y/z/v1", /version suffix/],
    ["x.y/z/v0", /version suffix/],
    ["x.y/z/v02", /version suffix/],
    ["x.y/z/v2.0", /version suffix/],
    ["gopkg.in/yaml", /version suffix/],
    ["gopkg.in/yaml.v02", /version suffix/],
    ["x.y/a b", /invalid char/],
    ["x.y/a+b", /invalid char/],
    ["x.y/a%2fb", /invalid char/],
    ["x.y/a\\b", /invalid char/],
    ["x.y/a@v1", /invalid char/],
    ["x.y/ä", /invalid char/],
    ["x.y/a\u0000b", /invalid char/],
  ];
  for (const [path, reason] of cases) {
    assert.match(checkModulePath(path) ?? "(accepted)", reason, JSON.stringify(path));
  }
});

Deno.test("case encoding: `!x` is X, and nothing else spells an uppercase letter", () => {
  assert.equal(unescape("github.com/!burnt!sushi/toml"), "github.com/BurntSushi/toml");
  assert.equal(escapeForUrl("github.com/BurntSushi/toml"), "github.com/!burnt!sushi/toml");
  assert.equal(escapeForUrl("github.com/google/uuid"), "github.com/google/uuid");
  for (const bad of ["github.com/BurntSushi", "x.y/!", "x.y/!1", "x.y/!!a", "x.y/!A", "x.y/é"]) {
    assert.equal(unescape(bad), undefined, bad);
  }
  // Escaping round-trips every valid path.
  for (const path of ["github.com/Azure/azure-sdk-for-go", "example.com/ABC/v2"]) {
    assert.equal(unescape(escapeForUrl(path)), path);
  }
  const wrong = unescapeModulePath("github.com/BurntSushi/toml");
  assert.ok(typeof wrong !== "string" && wrong.status === 400);
});

Deno.test("versions: canonical file versions and the path's major version", () => {
  assert.equal(canonicalVersion("v1"), "v1.0.0");
  assert.equal(canonicalVersion("v1.2"), "v1.2.0");
  assert.equal(canonicalVersion("v1.2.3+meta"), "v1.2.3");
  assert.equal(canonicalVersion("v2.0.0+incompatible"), "v2.0.0+incompatible");
  assert.equal(canonicalVersion("1.2.3"), undefined);
  assert.equal(canonicalVersion("v1.2.3-01"), undefined);
  assert.equal(canonicalVersion("v01.2.3"), undefined);
  assert.equal(canonicalVersion("v1-pre"), undefined);
  for (
    const [path, version] of [
      ["github.com/google/uuid", "v1.6.0"],
      ["github.com/google/uuid", "v0.0.0-20161128191214-064e2069ce9c"],
      ["github.com/x/y", "v1.4.1-0.20240526193622-a339e1f7089c"],
      ["github.com/x/y", "v3.1.0+incompatible"],
      ["example.com/m/v2", "v2.0.1-rc.1"],
      ["gopkg.in/yaml.v2", "v2.4.0"],
      ["gopkg.in/check.v1", "v0.0.0-20161208181325-20d25e280405"],
    ]
  ) {
    assert.equal(fileVersionProblem(path, version), undefined, `${path}@${version}`);
  }
  assert.match(fileVersionProblem("x.y/z", "v1.2") ?? "", /not canonical/);
  assert.match(fileVersionProblem("x.y/z", "master") ?? "", /not a semantic version/);
  assert.match(fileVersionProblem("x.y/z", "v2.0.0") ?? "", /should be v0 or v1/);
  assert.match(fileVersionProblem("x.y/z/v2", "v1.0.0") ?? "", /should be v2/);
  assert.match(fileVersionProblem("gopkg.in/yaml.v2", "v3.0.0") ?? "", /should be v2/);
});

Deno.test("GOPROXY paths parse into routes", () => {
  assert.deepEqual(parseGoPath("github.com/!burnt!sushi/toml/@v/list"), {
    kind: "list",
    module: "github.com/BurntSushi/toml",
  });
  assert.deepEqual(parseGoPath("golang.org/x/text/@latest"), {
    kind: "latest",
    module: "golang.org/x/text",
  });
  assert.deepEqual(parseGoPath("github.com/google/uuid/@v/v1.6.0.zip"), {
    kind: "file",
    module: "github.com/google/uuid",
    version: "v1.6.0",
    file: "zip",
  });
  assert.deepEqual(parseGoPath("github.com/x/y/@v/v1.0.0-!r!c1.mod"), {
    kind: "file",
    module: "github.com/x/y",
    version: "v1.0.0-RC1",
    file: "mod",
  });
  // .info also answers queries: a branch, a commit.
  assert.deepEqual(parseGoPath("github.com/x/y/@v/master.info"), {
    kind: "file",
    module: "github.com/x/y",
    version: "master",
    file: "info",
  });
  assert.deepEqual(parseGoPath("sumdb/sum.golang.org/supported"), { kind: "sumdb-supported" });
  assert.deepEqual(parseGoPath("sumdb/sum.golang.org/latest"), { kind: "sumdb-latest" });
  assert.deepEqual(parseGoPath("sumdb/sum.golang.org/lookup/github.com/!burnt!sushi/toml@v1.3.2"), {
    kind: "sumdb-lookup",
    module: "github.com/BurntSushi/toml",
    version: "v1.3.2",
  });
  assert.deepEqual(parseGoPath("sumdb/sum.golang.org/tile/8/0/x002/760"), {
    kind: "sumdb-tile",
    path: "tile/8/0/x002/760",
    height: 8,
    width: 256,
    data: false,
  });
  assert.deepEqual(parseGoPath("sumdb/sum.golang.org/tile/8/2/003.p/245"), {
    kind: "sumdb-tile",
    path: "tile/8/2/003.p/245",
    height: 8,
    width: 245,
    data: false,
  });
});

Deno.test("GOPROXY paths: anything else is a 404 or 400 with a reason", () => {
  const cases: [string, 400 | 404, RegExp][] = [
    ["", 404, /not a GOPROXY path/],
    ["github.com/google/uuid", 404, /not a GOPROXY path/],
    ["github.com/google/uuid/@v/", 404, /not a GOPROXY path/],
    ["github.com/google/uuid/@v/v1.6.0.tar", 404, /not a GOPROXY path/],
    ["github.com/google/uuid/@v/.zip", 404, /not a GOPROXY path/],
    ["github.com/Google/uuid/@v/list", 400, /invalid escaped module path/],
    ["github.com/x/../../etc/@v/list", 400, /invalid path element/],
    ["github.com/x/%2e%2e/@v/list", 400, /invalid char/],
    ["github.com/x/y/@v/v1.0.0/../../z.zip", 400, /invalid char/],
    ["github.com/x/y/@v/v1.2.zip", 400, /not canonical/],
    ["github.com/x/y/@v/master.mod", 400, /not a semantic version/],
    ["github.com/x/y/@v/v2.0.0.zip", 400, /should be v0 or v1/],
    ["github.com/x/y/@v/..info", 400, /invalid version/],
    ["nodot/x/@v/list", 400, /missing dot/],
    [`x.y/${"a".repeat(600)}/@v/list`, 400, /longer than/],
    ["sumdb/sum.golang.org/lookup/github.com/google/uuid", 400, /module@version/],
    ["sumdb/sum.golang.org/lookup/github.com/google/uuid@master", 400, /semantic version/],
    ["sumdb/other.example/supported", 404, /only the sum.golang.org/],
    ["sumdb/sum.golang.org/tile/8/0/1234", 404, /checksum database path/],
    ["sumdb/sum.golang.org/tile/8/0/000.p/256", 404, /checksum database path/],
    ["sumdb/sum.golang.org/tile/31/0/000", 404, /checksum database path/],
    ["sumdb/sum.golang.org/tile/8/0/../../../x", 404, /checksum database path/],
  ];
  for (const [path, status, reason] of cases) {
    const route = parseGoPath(path);
    assert.equal(route.kind, "problem", path);
    if (route.kind !== "problem") continue;
    assert.equal(route.status, status, path);
    assert.match(route.message, reason, path);
  }
});
