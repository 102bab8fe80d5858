import assert from "node:assert/strict";
import {
  type CargoMetadataPackage,
  publishFrame,
  publishMetadata,
} from "../../src/publish/cargo.ts";
import { cargoPublishConfigToml } from "../../src/registry/cargo/client_config.ts";
import { checkCrateArchive, firstEntryPath } from "../../src/registry/cargo/crate_archive.ts";
import { cargo } from "../../src/registry/cargo/mod.ts";
import { matched, routesOf } from "../support/routes.ts";
import { isThisRegistryIndex } from "../../src/registry/cargo/private_crates.ts";
import {
  compareVersions,
  CRATES_IO_INDEX,
  indexLine,
  type NewCrate,
  parseFrame,
  parseNewCrate,
  parseUpload,
} from "../../src/registry/cargo/publish.ts";
import { ClientError } from "../../src/registry/request_body.ts";
import { crateArchive, gzip, newCrateJson } from "../support/cargo_client.ts";

const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

function rejects400(fn: () => unknown, pattern: RegExp) {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof ClientError, String(error));
    assert.equal(error.status, 400);
    assert.match(error.message, pattern);
    return true;
  });
}

Deno.test("the publish frame: both lengths must account for every byte", () => {
  const crate = new Uint8Array([0x1f, 0x8b, 1, 2, 3]);
  const frame = publishFrame({ name: "a" }, crate);
  const { json, crate: parsed } = parseFrame(frame);
  assert.deepEqual(JSON.parse(new TextDecoder().decode(json)), { name: "a" });
  assert.deepEqual(parsed, crate);
  rejects400(() => parseFrame(new Uint8Array(3)), /cut off.*no JSON length/);
  rejects400(() => parseFrame(frame.subarray(0, frame.byteLength - 1)), /cut off.*1 missing/);
  rejects400(() => parseFrame(frame.subarray(0, 10)), /cut off/);
  rejects400(() => parseFrame(new Uint8Array([...frame, 0])), /1 bytes after the \.crate/);
  const huge = frame.slice();
  new DataView(huge.buffer).setUint32(0, 0xffffffff, true);
  rejects400(() => parseFrame(huge), /JSON length says 4294967295/);
});

Deno.test("the .crate must be non-empty gzip", () => {
  const meta = newCrateJson("ok", "1.0.0");
  rejects400(() => parseUpload(publishFrame(meta, new Uint8Array(0))), /empty/);
  rejects400(() => parseUpload(publishFrame(meta, new Uint8Array([1, 2, 3]))), /gzip/);
  assert.equal(parseUpload(publishFrame(meta, new Uint8Array([0x1f, 0x8b]))).meta.name, "ok");
});

Deno.test("names, versions and dependencies are checked before anything else", () => {
  for (const name of ["a/b", "a..b", "", "1abc", "a".repeat(65), "a b", null, 7]) {
    rejects400(() => parseNewCrate(encode(newCrateJson(name as string, "1.0.0"))), /crate name/);
  }
  for (const vers of ["1.0.0/x", "1.0.0-a..b", "1.0", "01.0.0", "1.0.0-", "v1.0.0", "1.0.0\n"]) {
    rejects400(() => parseNewCrate(encode(newCrateJson("ok", vers))), /not SemVer/);
  }
  for (const vers of ["0.0.0", "1.2.3-beta.1", "1.0.0-alpha+build.5", "10.20.30-rc.1-x"]) {
    assert.equal(parseNewCrate(encode(newCrateJson("ok", vers))).vers, vers);
  }
  rejects400(() => parseNewCrate(new TextEncoder().encode("{")), /not valid JSON/);
  rejects400(() => parseNewCrate(new TextEncoder().encode("[1]")), /JSON object/);
  rejects400(() => parseNewCrate(new Uint8Array([0xff, 0xfe])), /not valid JSON/);
  const dep = { name: "itoa", version_req: "^1", features: [], kind: "normal" };
  const withDep = (extra: Record<string, unknown>) =>
    encode(newCrateJson("ok", "1.0.0", { deps: [{ ...dep, ...extra }] }));
  assert.equal(parseNewCrate(withDep({})).deps[0].default_features, true);
  rejects400(() => parseNewCrate(withDep({ name: "../x" })), /deps\[0\]\.name/);
  rejects400(() => parseNewCrate(withDep({ version_req: "" })), /version_req/);
  rejects400(() => parseNewCrate(withDep({ version_req: "1\n" })), /version_req/);
  rejects400(() => parseNewCrate(withDep({ kind: "test" })), /kind/);
  rejects400(() => parseNewCrate(withDep({ optional: "yes" })), /optional/);
  rejects400(() => parseNewCrate(withDep({ features: ["a b"] })), /features/);
  rejects400(() => parseNewCrate(withDep({ registry: "not a url" })), /registry/);
  rejects400(() => parseNewCrate(withDep({ explicit_name_in_toml: "a/b" })), /explicit_name/);
  rejects400(() => parseNewCrate(withDep({ target: "cfg(unix)\n" })), /target/);
  rejects400(
    () => parseNewCrate(encode(newCrateJson("ok", "1.0.0", { features: { "a/b": [] } }))),
    /feature name/,
  );
  rejects400(
    () => parseNewCrate(encode(newCrateJson("ok", "1.0.0", { features: { a: ["x y"] } }))),
    /feature a/,
  );
  rejects400(
    () => parseNewCrate(encode(newCrateJson("ok", "1.0.0", { rust_version: "latest" }))),
    /rust_version/,
  );
});

Deno.test("the index line: req, renamed and same-registry deps, features2, rust_version", () => {
  const meta: NewCrate = parseNewCrate(encode(newCrateJson("My_Crate", "1.0.0", {
    deps: [
      {
        name: "serde",
        version_req: "^1.0.100",
        features: ["derive"],
        optional: true,
        default_features: true,
        target: null,
        kind: "normal",
        registry: CRATES_IO_INDEX,
        explicit_name_in_toml: "myser",
      },
      {
        name: "private-base",
        version_req: "^0.1",
        features: [],
        optional: false,
        default_features: false,
        target: "cfg(unix)",
        kind: "build",
        registry: "sparse+http://localhost:3080/cargo/index/",
      },
    ],
    features: { default: ["std"], std: ["myser?/std"], json: ["dep:myser"] },
    rust_version: "1.70",
    links: "native",
  })));
  const ours = (url: string) => url.includes("localhost:3080");
  assert.deepEqual(indexLine(meta, "ab".repeat(32), ours), {
    name: "My_Crate",
    vers: "1.0.0",
    deps: [
      {
        name: "myser",
        req: "^1.0.100",
        features: ["derive"],
        optional: true,
        default_features: true,
        target: null,
        kind: "normal",
        registry: CRATES_IO_INDEX,
        package: "serde",
      },
      {
        name: "private-base",
        req: "^0.1",
        features: [],
        optional: false,
        default_features: false,
        target: "cfg(unix)",
        kind: "build",
      },
    ],
    cksum: "ab".repeat(32),
    features: { default: ["std"] },
    yanked: false,
    links: "native",
    features2: { std: ["myser?/std"], json: ["dep:myser"] },
    v: 2,
    rust_version: "1.70",
  });
  const plain = indexLine(parseNewCrate(encode(newCrateJson("p", "1.0.0"))), "00", ours);
  assert.equal("v" in plain || "features2" in plain || "rust_version" in plain, false);
});

Deno.test("which dependency registries are this registry", () => {
  const host = "127.0.0.1:3080";
  assert.equal(
    isThisRegistryIndex("sparse+http://127.0.0.1:3080/cargo/index/", host, "3080"),
    true,
  );
  assert.equal(
    isThisRegistryIndex("sparse+http://localhost:3080/cargo/index/", host, "3080"),
    true,
  );
  assert.equal(
    isThisRegistryIndex("sparse+http://host.docker.internal:3080/cargo/index", null, "3080"),
    true,
  );
  assert.equal(isThisRegistryIndex(CRATES_IO_INDEX, host, "3080"), false);
  assert.equal(isThisRegistryIndex("sparse+http://127.0.0.1:3080/other/", host, "3080"), false);
  assert.equal(
    isThisRegistryIndex("sparse+http://127.0.0.1:4000/cargo/index/", host, "3080"),
    false,
  );
  assert.equal(isThisRegistryIndex("sparse+https://example.com/cargo/index/", host, "80"), false);
});

Deno.test("versions compare by SemVer precedence", () => {
  const sorted = [
    "0.9.0",
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0",
    "1.0.10",
    "10.0.0",
  ];
  const shuffled = [...sorted].reverse();
  assert.deepEqual(shuffled.sort(compareVersions), sorted);
  assert.equal(compareVersions("1.0.0+a", "1.0.0+b"), 0);
});

Deno.test("a .crate must hold its files under <name>-<version>/", async () => {
  await checkCrateArchive(await crateArchive("good", "1.0.0"), "good", "1.0.0");
  await assert.rejects(
    checkCrateArchive(await crateArchive("good", "1.0.0"), "good", "2.0.0"),
    /must be under good-2\.0\.0\//,
  );
  await assert.rejects(
    checkCrateArchive(await gzip(new Uint8Array(1024)), "good", "1.0.0"),
    /holds no files/,
  );
  const crate = await crateArchive("good", "1.0.0");
  await assert.rejects(
    checkCrateArchive(crate.subarray(0, crate.byteLength - 4), "good", "1.0.0"),
    /not valid gzip/,
  );
  // A GNU long name ('L' entry) before the first file, as tar-rs writes for long paths.
  const longPath = `good-1.0.0/${"d/".repeat(60)}lib.rs`;
  const header = new Uint8Array(512);
  header.set(new TextEncoder().encode("././@LongLink"), 0);
  header.set(new TextEncoder().encode((longPath.length + 1).toString(8).padStart(11, "0")), 124);
  header[156] = "L".charCodeAt(0);
  const data = new Uint8Array(512);
  data.set(new TextEncoder().encode(longPath));
  const entry = new Uint8Array(512);
  entry.set(new TextEncoder().encode(longPath.slice(0, 100)));
  entry.set(new TextEncoder().encode("00000000000"), 124);
  entry[156] = "0".charCodeAt(0);
  assert.equal(firstEntryPath(new Uint8Array([...header, ...data, ...entry])), longPath);
});

Deno.test("cargo's write routes match by method; near misses do not", () => {
  const routes = routesOf(cargo);
  const crates = "/cargo/api/v1/crates";
  assert.equal(matched(routes, "PUT", `${crates}/new`)?.pattern, `${crates}/new`);
  assert.equal(matched(routes, "GET", crates)?.pattern, crates);
  assert.deepEqual(matched(routes, "DELETE", `${crates}/Serde/1.0.0/yank`), {
    pattern: `${crates}/:name/:version/yank`,
    params: { name: "Serde", version: "1.0.0" },
  });
  assert.deepEqual(matched(routes, "PUT", `${crates}/serde/1.0.0-rc.1/unyank`), {
    pattern: `${crates}/:name/:version/unyank`,
    params: { name: "serde", version: "1.0.0-rc.1" },
  });
  // The right path with the wrong method: the route is found, the method is not (405).
  const wrong = routes.match("PUT", `${crates}/serde/1.0.0/yank`);
  assert.deepEqual(wrong.kind === "method" && wrong.allow, ["DELETE"]);
  for (
    const path of [
      "api/v1/crates/new/x",
      "api/v1/crates/serde/1.0.0/owners",
      "api/v1/crates/serde/1.0.0-a..b/yank",
      "api/v1/crates/../1.0.0/yank",
      "api/v2/crates/new",
      "api/v1/other",
    ]
  ) {
    for (const method of ["GET", "PUT", "DELETE"]) {
      assert.equal(routes.match(method, `/cargo/${path}`).kind, "none", `${method} ${path}`);
    }
  }
});

Deno.test("vm pkg add's publish JSON from cargo metadata is what cargo publish sends", () => {
  const pkg: CargoMetadataPackage = {
    name: "rich",
    version: "0.2.0",
    manifest_path: "/p/Cargo.toml",
    authors: ["A <a@example.com>"],
    description: "Rich",
    documentation: null,
    homepage: null,
    readme: "README.md",
    keywords: ["k"],
    categories: [],
    license: "MIT",
    license_file: null,
    repository: null,
    links: null,
    rust_version: "1.70",
    publish: null,
    features: {
      default: ["std"],
      std: ["log?/std"],
      json: ["dep:myser"],
      log: ["dep:log"], // added by cargo metadata: log is optional and no feature says dep:log
    },
    dependencies: [
      dependency({ name: "log", optional: true }),
      dependency({ name: "serde", rename: "myser", optional: true }),
      dependency({ name: "base", registry: "sparse+http://127.0.0.1:3080/cargo/index/" }),
      dependency({ name: "helper", kind: "dev", req: "*", path: "../helper" }),
      dependency({ name: "cc", kind: "build", target: "cfg(unix)" }),
    ],
  };
  const meta = publishMetadata(pkg, "# rich\n");
  assert.deepEqual(meta.features, {
    default: ["std"],
    std: ["log?/std"],
    json: ["dep:myser"],
  });
  assert.deepEqual(meta.deps.map((d) => [d.name, d.kind, d.registry, d.explicit_name_in_toml]), [
    ["log", "normal", CRATES_IO_INDEX, undefined],
    ["serde", "normal", CRATES_IO_INDEX, "myser"],
    ["base", "normal", "sparse+http://127.0.0.1:3080/cargo/index/", undefined],
    ["cc", "build", CRATES_IO_INDEX, undefined],
  ]);
  assert.equal(meta.readme, "# rich\n");
  assert.equal(meta.readme_file, "README.md");
  assert.equal(meta.deps[3].target, "cfg(unix)");
  // What the server accepts and indexes without complaint.
  assert.equal(parseNewCrate(encode(meta)).deps.length, 4);
});

function dependency(
  extra: Partial<CargoMetadataPackage["dependencies"][number]>,
): CargoMetadataPackage["dependencies"][number] {
  return {
    name: "x",
    req: "^1",
    kind: null,
    rename: null,
    optional: false,
    uses_default_features: true,
    features: [],
    target: null,
    registry: null,
    ...extra,
  };
}

Deno.test("the publisher's cargo config names the replacing index as registry vm too", () => {
  const toml = cargoPublishConfigToml("http://127.0.0.1:3080");
  assert.match(toml, /\[source\.crates-io\]\nreplace-with = "vm"\n/);
  assert.match(
    toml,
    /\[registries\.vm\]\nindex = "sparse\+http:\/\/127\.0\.0\.1:3080\/cargo\/index\/"\n/,
  );
});
