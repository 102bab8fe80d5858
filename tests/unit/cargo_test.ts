import assert from "node:assert/strict";
import { cargoConfigArgs, cargoConfigToml } from "../../src/registry/cargo/client_config.ts";
import { crateKey, indexPath, indexSpellings } from "../../src/registry/cargo/names.ts";
import { cargo } from "../../src/registry/cargo/mod.ts";
import { matched, routesOf } from "../support/routes.ts";

Deno.test("sparse index paths follow cargo's layout", () => {
  assert.equal(indexPath("a"), "1/a");
  assert.equal(indexPath("ab"), "2/ab");
  assert.equal(indexPath("abc"), "3/a/abc");
  assert.equal(indexPath("Serde_JSON"), "se/rd/serde_json");
});

Deno.test("crate names compare as crates.io compares them: case and - or _ ignored", () => {
  for (const spelling of ["My_Crate", "my-crate", "MY-CRATE", "my_crate"]) {
    assert.equal(crateKey(spelling), "my-crate", spelling);
  }
  assert.notEqual(crateKey("mycrate"), crateKey("my-crate"));
  // Every lowercased spelling the index could hold, the name's own first.
  assert.deepEqual(indexSpellings("Serde-JSON", 64), ["serde-json", "serde_json"]);
  assert.deepEqual(indexSpellings("a_b-c", 64), ["a_b-c", "a-b-c", "a-b_c", "a_b_c"]);
  assert.deepEqual(indexSpellings("itoa", 64), ["itoa"]);
  assert.equal(indexSpellings("a-b-c-d-e-f-g", 64)?.length, 64);
  assert.equal(indexSpellings("a-b-c-d-e-f-g-h", 64), undefined);
});

Deno.test("index and download routes match; anything else does not", () => {
  const routes = routesOf(cargo);
  const get = (path: string) => matched(routes, "GET", `/cargo/${path}`);
  assert.equal(get("index/config.json")?.pattern, "/cargo/index/config.json");
  assert.deepEqual(get("index/se/rd/serde"), {
    pattern: "/cargo/index/:path+",
    params: { name: "serde" },
  });
  assert.deepEqual(get("index/3/l/log"), {
    pattern: "/cargo/index/:path+",
    params: { name: "log" },
  });
  assert.deepEqual(get("api/v1/crates/serde/1.0.200/download"), {
    pattern: "/cargo/api/v1/crates/:name/:version/download",
    params: { name: "serde", version: "1.0.200" },
  });
  assert.deepEqual(get("api/v1/crates/Inflector/0.11.4/download")?.params, {
    name: "Inflector",
    version: "0.11.4",
  });
  for (
    const path of [
      "index/xx/yy/serde", // prefix does not match the name
      "index/../../etc/passwd",
      "index/se/rd/../serde",
      "index/se%2Frd/serde",
      "index/1/-",
      "index/se/rd/serde/extra",
      "index/se/rd/serde/",
      "index//rd/serde",
      "api/v1/crates/serde/not-a-version/download",
      "api/v1/crates/../1.0.0/download",
      "api/v1/crates/se%72de/1.0.0/download",
      "api/v1/crates/serde/1.0.0",
      `index/aa/aa/${"a".repeat(70)}`,
    ]
  ) {
    assert.equal(routes.match("GET", `/cargo/${path}`).kind, "none", path);
  }
});

Deno.test("the crates.io replacement config, as a file and as --config arguments", () => {
  const toml = cargoConfigToml("http://127.0.0.1:3080/");
  assert.match(toml, /\[source\.crates-io\]\nreplace-with = "vm"\n/);
  assert.match(
    toml,
    /\[source\.vm\]\nregistry = "sparse\+http:\/\/127\.0\.0\.1:3080\/cargo\/index\/"/,
  );
  assert.deepEqual(cargoConfigArgs("http://host.docker.internal:3080"), [
    "--config",
    'source.crates-io.replace-with="vm"',
    "--config",
    'source.vm.registry="sparse+http://host.docker.internal:3080/cargo/index/"',
  ]);
});
