// Private crates: the real cargo publishes, yanks and searches; consumers whose crates.io is
// replaced by the registry build with private crates from the same index; crates.io names are
// not shadowed by accident; and bad or unauthorized uploads leave nothing behind.
import assert from "node:assert/strict";
import { withTempDir } from "../support/process.ts";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { dataLayout } from "../../src/store/data_dir.ts";
import { buildCargo, publishFrame, uploadCargo } from "../../src/publish/cargo.ts";
import { PublishError } from "../../src/publish/types.ts";
import {
  type CargoEnv,
  consumerRun,
  crateArchive,
  crateUpload,
  hasCargo,
  indexLines,
  newCrateJson,
  publisherEnv,
  putCrate,
  runCargo,
  writeCrate,
} from "../support/cargo_client.ts";
import { readBody, tempFiles, type TestRegistry, withRegistry } from "../support/registry.ts";

const cargoMissing = !(await hasCargo());
if (cargoMissing) console.warn("skipping cargo publish tests: cargo is not installed");

async function privateCrates(registry: TestRegistry) {
  const response = await fetch(`${registry.url}/-/packages?type=cargo`);
  return (await response.json()).packages as {
    name: string;
    shadowsUpstream: boolean;
    versions: { version: string }[];
  }[];
}

async function hasBlob(registry: TestRegistry, bytes: Uint8Array): Promise<boolean> {
  const digest = createHash("sha256").update(bytes).digest("hex");
  const path = join(dataLayout(registry.dataDir).blobs, "sha256", digest.slice(0, 2), digest);
  return await Deno.stat(path).then(() => true, () => false);
}

async function upstreamRequests(registry: TestRegistry): Promise<number> {
  return (await registry.status()).ecosystems.cargo.upstreamRequests;
}

/** cargo publish, as a user with the registry named `vm` in their cargo config runs it. */
function cargoPublish(project: string, env: CargoEnv) {
  // --no-verify: compiling the crate proves nothing about the registry; the consumers build it.
  return runCargo(["publish", "--registry", "vm", "--no-verify"], project, env);
}

Deno.test({
  name: "cargo publish, build from the same index that replaces crates.io, duplicate, yank, search",
  ignore: cargoMissing,
  async fn() {
    await withTempDir(async (dir) => {
      await withRegistry({}, async (registry) => {
        const env = await publisherEnv(dir, registry);
        const base = await writeCrate(join(dir, "base"), [
          "[package]",
          'name = "vmpkg-private-base"',
          'version = "0.1.0"',
          'edition = "2021"',
          'description = "The base of the private crates"',
          'license = "MIT"',
          "",
          "[dependencies]",
          'itoa = "1"',
        ], {
          path: "src/lib.rs",
          text: "pub fn render(n: u32) -> String { itoa::Buffer::new().format(n).to_owned() }\n",
        });
        const published = await cargoPublish(base, env);
        assert.equal(published.code, 0, published.stderr);
        // cargo waited until the index showed the new version.
        assert.match(published.stderr, /Published vmpkg-private-base v0\.1\.0/);

        // A private crate depending on another by its alias, from the registry by name.
        const app = await writeCrate(join(dir, "app"), [
          "[package]",
          'name = "vmpkg-private-app"',
          'version = "0.1.0"',
          'edition = "2021"',
          'description = "An app on the private base"',
          'license = "MIT"',
          "",
          "[dependencies]",
          'base = { package = "vmpkg-private-base", version = "0.1", registry = "vm" }',
        ], {
          path: "src/lib.rs",
          text: 'pub fn greet() -> String { format!("private {}", base::render(42)) }\n',
        });
        const publishedApp = await cargoPublish(app, env);
        assert.equal(publishedApp.code, 0, publishedApp.stderr);

        const baseIndex = await indexLines(registry, "vm/pk/vmpkg-private-base");
        assert.equal(baseIndex.lines.length, 1);
        // What is downloaded is what the index's cksum promises (cargo checks it too).
        const crateFile = await readBody(
          await fetch(`${registry.url}/cargo/api/v1/crates/vmpkg-private-base/0.1.0/download`),
        );
        assert.deepEqual(baseIndex.lines[0], {
          name: "vmpkg-private-base",
          vers: "0.1.0",
          deps: [{
            name: "itoa",
            req: "^1",
            features: [],
            optional: false,
            default_features: true,
            target: null,
            kind: "normal",
            registry: "https://github.com/rust-lang/crates.io-index",
          }],
          cksum: createHash("sha256").update(crateFile).digest("hex"),
          features: {},
          yanked: false,
          links: null,
        });
        // The alias is the index name, the real name `package`; the same registry has no URL
        // (it means "this index", whatever host a client reaches it by).
        const appIndex = await indexLines(registry, "vm/pk/vmpkg-private-app");
        assert.deepEqual((appIndex.lines[0].deps as unknown[])[0], {
          name: "base",
          req: "^0.1",
          features: [],
          optional: false,
          default_features: true,
          target: null,
          kind: "normal",
          package: "vmpkg-private-base",
        });

        // A consumer that only replaced crates.io finds both private crates and itoa.
        const output = await consumerRun(
          dir,
          registry,
          'vmpkg-private-app = "0.1"',
          'fn main() { println!("{}", vmpkg_private_app::greet()); }\n',
        );
        assert.equal(output, "private 42");
        const lock = await Deno.readTextFile(join(dir, "consumer", "Cargo.lock"));
        assert.match(lock, new RegExp(`checksum = "${baseIndex.lines[0].cksum}"`));

        // The same version again: cargo sees it in the index, and the server refuses it too.
        const again = await cargoPublish(base, env);
        assert.notEqual(again.code, 0);
        assert.match(again.stderr, /already exists/);
        for (const version of ["0.1.0", "0.1.0+other-build"]) {
          const duplicate = await putCrate(
            registry,
            await crateUpload("vmpkg-private-base", version),
          );
          assert.equal(duplicate.status, 409, version);
          assert.match(duplicate.detail, /already exists/);
        }

        const yank = await runCargo(
          ["yank", "--registry", "vm", "vmpkg-private-base@0.1.0"],
          base,
          env,
        );
        assert.equal(yank.code, 0, yank.stderr);
        assert.equal(
          (await indexLines(registry, "vm/pk/vmpkg-private-base")).lines[0].yanked,
          true,
        );
        const unyank = await runCargo(
          ["yank", "--undo", "--registry", "vm", "vmpkg-private-base@0.1.0"],
          base,
          env,
        );
        assert.equal(unyank.code, 0, unyank.stderr);
        const afterUnyank = await indexLines(registry, "vm/pk/vmpkg-private-base");
        assert.deepEqual(afterUnyank.lines, baseIndex.lines);
        const publicYank = await runCargo(["yank", "--registry", "vm", "itoa@1.0.14"], base, env);
        assert.notEqual(publicYank.code, 0);
        assert.match(publicYank.stderr, /not published on this registry/);

        const search = await runCargo(["search", "--registry", "vm", "vmpkg-private"], base, env);
        assert.equal(search.code, 0, search.stderr);
        assert.match(search.stdout, /vmpkg-private-app = "0\.1\.0"\s+# An app on the private base/);
        assert.match(search.stdout, /vmpkg-private-base = "0\.1\.0"\s+# The base of the private/);
        const none = await runCargo(["search", "--registry", "vm", "serde"], base, env);
        assert.equal(none.code, 0, none.stderr);
        assert.doesNotMatch(none.stdout, /serde/);
        assert.deepEqual(await tempFiles(registry.dataDir), []);
      });
    });
  },
});

Deno.test("a crates.io name is published only when asked for, then served only privately", async () => {
  await withRegistry({}, async (registry) => {
    const upload = await crateUpload("itoa", "99.0.0");
    const crate = await crateArchive("itoa", "99.0.0");
    const refused = await putCrate(registry, upload);
    assert.equal(refused.status, 409);
    assert.match(refused.detail, /itoa exists on the public registry/);
    assert.deepEqual(await privateCrates(registry), []);
    assert.equal(await hasBlob(registry, crate), false);
    assert.ok((await indexLines(registry, "it/oa/itoa")).lines.length > 10);

    const accepted = await fetch(`${registry.url}/cargo/api/v1/crates/new`, {
      method: "PUT",
      headers: { authorization: registry.token, "x-vm-allow-shadow": "true" },
      body: upload as BodyInit,
    });
    assert.equal(accepted.status, 200);
    assert.deepEqual(await accepted.json(), {
      warnings: { invalid_categories: [], invalid_badges: [], other: [] },
    });
    const before = await upstreamRequests(registry);
    const index = await indexLines(registry, "it/oa/itoa");
    assert.deepEqual(index.lines.map((line) => line.vers), ["99.0.0"]);
    assert.deepEqual(
      await readBody(await fetch(`${registry.url}/cargo/api/v1/crates/itoa/99.0.0/download`)),
      crate,
    );
    // crates.io's versions of the name are gone for this registry's clients.
    const publicVersion = await fetch(`${registry.url}/cargo/api/v1/crates/itoa/1.0.14/download`);
    assert.equal(publicVersion.status, 404);
    await publicVersion.body?.cancel();
    assert.equal(await upstreamRequests(registry), before);
    const [summary] = await privateCrates(registry);
    assert.equal(summary.name, "itoa");
    assert.equal(summary.shadowsUpstream, true);

    // Without versions the name stays private: 404, not crates.io's index file.
    const removed = await fetch(`${registry.url}/-/packages/cargo/itoa?version=99.0.0`, {
      method: "DELETE",
      headers: { authorization: registry.token },
    });
    assert.equal(removed.status, 200);
    await removed.body?.cancel();
    const empty = await fetch(`${registry.url}/cargo/index/it/oa/itoa`);
    assert.equal(empty.status, 404);
    assert.match((await empty.json()).errors[0].detail, /no published versions/);
    assert.equal(await upstreamRequests(registry), before);
    assert.deepEqual(await tempFiles(registry.dataDir), []);
  });
});

Deno.test("writes need the token: none and a wrong one are refused, nothing is stored", async () => {
  await withRegistry({}, async (registry) => {
    const upload = await crateUpload("vmpkg-never-stored", "1.0.0");
    const api = `${registry.url}/cargo/api/v1/crates`;
    for (const headers of [{}, { authorization: "vmpkg_wrong" }] as Record<string, string>[]) {
      const refused = await putCrate(registry, upload, headers);
      assert.equal(refused.status, 401);
      assert.match(refused.detail, /token/);
      for (
        const [method, url] of [
          ["DELETE", `${api}/vmpkg-never-stored/1.0.0/yank`],
          ["PUT", `${api}/vmpkg-never-stored/1.0.0/unyank`],
        ]
      ) {
        const response = await fetch(url, { method, headers });
        assert.equal(response.status, 401, `${method} ${url}`);
        assert.match((await response.json()).errors[0].detail, /token/);
      }
    }
    assert.deepEqual(await privateCrates(registry), []);
    assert.equal(await hasBlob(registry, await crateArchive("vmpkg-never-stored", "1.0.0")), false);
    assert.equal(await upstreamRequests(registry), 0);
  });
});

Deno.test("malformed uploads are refused with 4xx and leave nothing behind", async () => {
  await withRegistry({}, async (registry) => {
    const name = "vmpkg-never-stored";
    const crate = await crateArchive(name, "1.0.0");
    const good = publishFrame(newCrateJson(name, "1.0.0"), crate);
    const withJsonLength = (length: number) => {
      const copy = good.slice();
      new DataView(copy.buffer).setUint32(0, length, true);
      return copy;
    };
    const rawFrame = (json: string, bytes: Uint8Array) => {
      const text = new TextEncoder().encode(json);
      const frame = new Uint8Array(8 + text.byteLength + bytes.byteLength);
      const view = new DataView(frame.buffer);
      view.setUint32(0, text.byteLength, true);
      frame.set(text, 4);
      view.setUint32(4 + text.byteLength, bytes.byteLength, true);
      frame.set(bytes, 8 + text.byteLength);
      return frame;
    };
    const cases: [string, Uint8Array, RegExp][] = [
      ["empty body", new Uint8Array(0), /cut off/],
      ["truncated frame", good.subarray(0, good.byteLength - 10), /cut off/],
      ["JSON length past the body", withJsonLength(good.byteLength * 4), /cut off/],
      ["trailing garbage", new Uint8Array([...good, 0x78, 0x78]), /after the \.crate/],
      ["invalid JSON", rawFrame("{not json", crate), /not valid JSON/],
      ["name with /", publishFrame(newCrateJson("a/b", "1.0.0"), crate), /invalid crate name/],
      ["name with ..", publishFrame(newCrateJson("a..b", "1.0.0"), crate), /invalid crate name/],
      ["version with /", publishFrame(newCrateJson(name, "1.0.0/x"), crate), /not SemVer/],
      ["version with ..", publishFrame(newCrateJson(name, "1.0.0-a..b"), crate), /not SemVer/],
      [
        "not gzip",
        publishFrame(newCrateJson(name, "1.0.0"), new Uint8Array([80, 75, 3, 4])),
        /gzip/,
      ],
      ["empty crate", publishFrame(newCrateJson(name, "1.0.0"), new Uint8Array(0)), /empty/],
      [
        "gzip cut short",
        publishFrame(newCrateJson(name, "1.0.0"), crate.subarray(0, crate.byteLength - 12)),
        /not valid gzip/,
      ],
      [
        "another crate's files",
        publishFrame(newCrateJson(name, "1.0.0"), await crateArchive("other", "1.0.0")),
        /must be under vmpkg-never-stored-1\.0\.0\//,
      ],
      [
        "a dependency requirement that could break the index",
        publishFrame(
          newCrateJson(name, "1.0.0", {
            deps: [{ name: "itoa", version_req: '1"\n{', features: [], kind: "normal" }],
          }),
          crate,
        ),
        /deps\[0\]\.version_req/,
      ],
    ];
    for (const [what, body, detail] of cases) {
      const refused = await putCrate(registry, body);
      assert.ok(refused.status >= 400 && refused.status < 500, `${what}: ${refused.status}`);
      assert.match(refused.detail, detail, what);
    }
    const wrongMethod = await fetch(`${registry.url}/cargo/api/v1/crates/new`);
    assert.equal(wrongMethod.status, 405);
    await wrongMethod.body?.cancel();
    assert.deepEqual(await privateCrates(registry), []);
    assert.equal(await hasBlob(registry, crate), false);
    assert.deepEqual(await tempFiles(registry.dataDir), []);
    // Nothing was even looked up upstream: every check runs before the one-source check.
    assert.equal(await upstreamRequests(registry), 0);
  });
});

Deno.test({
  name: "vm pkg add's cargo path uploads what cargo publish does, and consumers build with it",
  ignore: cargoMissing,
  async fn() {
    await withTempDir(async (dir) => {
      await withRegistry({}, async (registry) => {
        const env = await publisherEnv(dir, registry);
        const manifest = (version: string) => [
          "[package]",
          'name = "vmpkg-private-rich"',
          `version = "${version}"`,
          'edition = "2021"',
          'description = "Every kind of dependency"',
          'license = "MIT OR Apache-2.0"',
          'rust-version = "1.70"',
          'links = "vmpkgrich"',
          'readme = "README.md"',
          "",
          "[dependencies]",
          'itoa = { version = "1", default-features = false }',
          'log = { version = "0.4", optional = true }',
          'myser = { package = "serde", version = "1.0.100", optional = true, features = ["std"] }',
          "",
          "[target.'cfg(unix)'.dependencies]",
          'ryu = "1"',
          "",
          "[dev-dependencies]",
          'ryu = "1.0.5"',
          "",
          "[build-dependencies]",
          'itoa = "1"',
          "",
          "[features]",
          'default = ["std"]',
          'std = ["log?/std", "myser?/std"]',
          'json = ["dep:myser"]',
        ];
        const project = await writeCrate(join(dir, "rich"), manifest("0.1.0"), {
          path: "src/lib.rs",
          text: "pub fn both(n: u32) -> String {\n" +
            '  format!("{} {}", itoa::Buffer::new().format(n), ryu::Buffer::new().format(0.5))\n' +
            "}\n",
        });
        await Deno.writeTextFile(join(project, "build.rs"), "fn main() {}\n");
        await Deno.writeTextFile(join(project, "README.md"), "# rich\n");
        const published = await cargoPublish(project, env);
        assert.equal(published.code, 0, published.stderr);

        await Deno.writeTextFile(join(project, "Cargo.toml"), manifest("0.2.0").join("\n") + "\n");
        const built = await buildCargo(project, {
          env: { CARGO_HOME: env.home, CARGO_TARGET_DIR: env.targetDir },
        });
        assert.equal(built.name, "vmpkg-private-rich");
        assert.equal(built.version, "0.2.0");
        assert.equal(
          built.files[0].path,
          join(env.targetDir, "package", "vmpkg-private-rich-0.2.0.crate"),
        );
        const options = { registryUrl: registry.url, token: registry.token, allowShadow: false };
        await uploadCargo(built, options);

        // The index lines of the two versions differ only where the versions do.
        const { lines } = await indexLines(registry, "vm/pk/vmpkg-private-rich");
        assert.equal(lines.length, 2);
        const [byCargo, byVm] = lines.map(({ vers: _v, cksum: _c, ...rest }) => rest);
        assert.deepEqual(byVm, byCargo);
        assert.equal(byCargo.v, 2);
        assert.deepEqual(byCargo.features2, {
          json: ["dep:myser"],
          std: ["log?/std", "myser?/std"],
        });
        assert.equal(
          lines[1].cksum,
          createHash("sha256").update(await Deno.readFile(built.files[0].path)).digest("hex"),
        );

        await assert.rejects(
          uploadCargo(built, options),
          (error: unknown) =>
            error instanceof PublishError && error.status === 409 &&
            /already exists/.test(error.message),
        );
        const output = await consumerRun(
          dir,
          registry,
          'vmpkg-private-rich = "0.2"',
          'fn main() { println!("{}", vmpkg_private_rich::both(7)); }\n',
        );
        assert.equal(output, "7 0.5");
        const lock = await Deno.readTextFile(join(dir, "consumer", "Cargo.lock"));
        assert.match(lock, /name = "vmpkg-private-rich"\nversion = "0\.2\.0"/);
      });
    });
  },
});
