import assert from "node:assert/strict";
import { cargoConfigArgs, cargoConfigToml } from "../../src/registry/cargo/client_config.ts";
import { indexPath, parseCargoPath } from "../../src/registry/cargo/names.ts";

Deno.test("sparse index paths follow cargo's layout", () => {
  assert.equal(indexPath("a"), "1/a");
  assert.equal(indexPath("ab"), "2/ab");
  assert.equal(indexPath("abc"), "3/a/abc");
  assert.equal(indexPath("Serde_JSON"), "se/rd/serde_json");
});

Deno.test("index and download routes parse; anything else does not", () => {
  assert.deepEqual(parseCargoPath("index/config.json"), { kind: "config" });
  assert.deepEqual(parseCargoPath("index/se/rd/serde"), {
    kind: "index",
    name: "serde",
    path: "se/rd/serde",
  });
  assert.deepEqual(parseCargoPath("index/3/l/log"), {
    kind: "index",
    name: "log",
    path: "3/l/log",
  });
  assert.deepEqual(parseCargoPath("api/v1/crates/serde/1.0.200/download"), {
    kind: "download",
    name: "serde",
    version: "1.0.200",
  });
  assert.deepEqual(parseCargoPath("api/v1/crates/Inflector/0.11.4/download"), {
    kind: "download",
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
      "api/v1/crates/serde/not-a-version/download",
      "api/v1/crates/../1.0.0/download",
      "api/v1/crates/serde/1.0.0",
      `index/aa/aa/${"a".repeat(70)}`,
    ]
  ) {
    assert.equal(parseCargoPath(path), undefined, path);
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
