// cargo through the registry: the real cargo against the real crates.io, and the stand-in
// upstream for faults.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { cargoConfigToml } from "../../src/registry/cargo/client_config.ts";
import { hasProgram, runProcess } from "../support/process.ts";
import {
  rawGet,
  readBody,
  tempFiles,
  type TestRegistry,
  withRegistry,
} from "../support/registry.ts";
import { type StandInUpstream, startStandInUpstream } from "../support/stand_in_upstream.ts";

const cargoMissing = !(await hasProgram("cargo"));
if (cargoMissing) console.warn("skipping cargo tests: cargo is not installed");

async function cargoCounters(registry: TestRegistry) {
  return (await registry.status()).ecosystems.cargo;
}

/** A project with a real tree of a few dozen crates (rand, serde_json, regex-lite, …). */
async function makeCargoProject(dir: string): Promise<string> {
  const project = join(dir, "project");
  await Deno.mkdir(join(project, "src"), { recursive: true });
  await Deno.writeTextFile(
    join(project, "Cargo.toml"),
    [
      "[package]",
      'name = "vm-cargo-test"',
      'version = "0.1.0"',
      'edition = "2021"',
      "",
      "[dependencies]",
      'rand = "=0.8.5"',
      'serde_json = "=1.0.133"',
      'itoa = "=1.0.14"',
      'regex-lite = "=0.1.6"',
      'log = "=0.4.22"',
      "",
    ].join("\n"),
  );
  await Deno.writeTextFile(
    join(project, "src", "main.rs"),
    'fn main() { let v: serde_json::Value = serde_json::from_str("[1]").unwrap(); ' +
      'println!("{} {}", v[0], itoa::Buffer::new().format(rand::random::<u8>() as u32 * 0)); }\n',
  );
  return project;
}

function cargo(args: string[], cwd: string, cargoHome: string, targetDir: string) {
  return runProcess("cargo", args, {
    cwd,
    env: { CARGO_HOME: cargoHome, CARGO_TARGET_DIR: targetDir, CARGO_TERM_COLOR: "never" },
  });
}

async function freshCargoHome(dir: string, name: string, registryUrl: string): Promise<string> {
  const home = join(dir, name);
  await Deno.mkdir(home, { recursive: true });
  await Deno.writeTextFile(join(home, "config.toml"), cargoConfigToml(registryUrl));
  return home;
}

Deno.test({
  name: "cargo builds a real project through the cache; a new CARGO_HOME makes 0 upstream requests",
  ignore: cargoMissing,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "vm-cargo-" });
    try {
      await withRegistry({}, async (registry) => {
        const project = await makeCargoProject(dir);
        const cold = await cargo(
          ["run", "--quiet"],
          project,
          await freshCargoHome(dir, "home1", registry.url),
          join(dir, "target1"),
        );
        assert.equal(cold.code, 0, cold.stderr);
        assert.equal(cold.stdout.trim(), "1 0");
        const afterCold = await cargoCounters(registry);
        assert.ok(afterCold.upstreamRequests >= 20, `${afterCold.upstreamRequests} upstream`);
        const lock = await Deno.readTextFile(join(project, "Cargo.lock"));
        assert.match(lock, /name = "rand_core"/);

        const warm = await cargo(
          ["build", "--quiet"],
          project,
          await freshCargoHome(dir, "home2", registry.url),
          join(dir, "target2"),
        );
        assert.equal(warm.code, 0, warm.stderr);
        const afterWarm = await cargoCounters(registry);
        assert.equal(afterWarm.upstreamRequests, afterCold.upstreamRequests);
        assert.ok(afterWarm.cacheHits - afterCold.cacheHits >= 20);
        assert.deepEqual(await tempFiles(registry.dataDir), []);
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("config.json, index files byte for byte, revalidation, 404", async () => {
  await withRegistry({}, async (registry) => {
    const config = await rawGet(registry.port, "/cargo/index/config.json", {
      host: `host.docker.internal:${registry.port}`,
    });
    assert.deepEqual(JSON.parse(config.body), {
      dl: `http://host.docker.internal:${registry.port}/cargo/api/v1/crates`,
      api: `http://host.docker.internal:${registry.port}/cargo`,
    });

    const ours = await fetch(`${registry.url}/cargo/index/3/l/log`, {
      headers: { "accept-encoding": "identity" },
    });
    const etag = ours.headers.get("etag")!;
    const lastModified = ours.headers.get("last-modified")!;
    const oursBytes = await readBody(ours);
    const theirs = await readBody(await fetch("https://index.crates.io/3/l/log"));
    assert.deepEqual(oursBytes, theirs);

    const byEtag = await fetch(`${registry.url}/cargo/index/3/l/log`, {
      headers: { "if-none-match": etag },
    });
    assert.equal(byEtag.status, 304);
    await byEtag.body?.cancel();
    const byDate = await fetch(`${registry.url}/cargo/index/3/l/log`, {
      headers: { "if-modified-since": lastModified },
    });
    assert.equal(byDate.status, 304);
    await byDate.body?.cancel();

    const unknown = await fetch(`${registry.url}/cargo/index/no/su/nosuchcrate-vm-test`);
    assert.equal(unknown.status, 404);
    assert.match((await unknown.json()).errors[0].detail, /not found/);

    // A .crate, verified against the index cksum.
    const line = new TextDecoder().decode(theirs).trim().split("\n")
      .map((l) => JSON.parse(l)).find((entry) => entry.vers === "0.4.22");
    const crate = await readBody(
      await fetch(`${registry.url}/cargo/api/v1/crates/log/0.4.22/download`),
    );
    assert.equal(createHash("sha256").update(crate).digest("hex"), line.cksum);
    const noVersion = await fetch(`${registry.url}/cargo/api/v1/crates/log/99.0.0/download`);
    assert.equal(noVersion.status, 404);
    await noVersion.body?.cancel();
    // The log index file, the unknown crate's index file, and one .crate download.
    assert.equal((await cargoCounters(registry)).upstreamRequests, 3);
  });
});

async function withStandIn(
  fn: (upstream: StandInUpstream, registry: TestRegistry) => Promise<void>,
) {
  const upstream = startStandInUpstream({ size: 150_000 });
  try {
    await withRegistry({
      upstreams: {
        cargo_upstream: `${upstream.url}/index`,
        cargo_files_upstream: `${upstream.url}/crates`,
      },
      timeouts: { headersMs: 2_000, idleMs: 2_000 },
    }, (registry) => fn(upstream, registry));
  } finally {
    await upstream.close();
  }
}

Deno.test("cargo faults: corrupt, truncated, dying and missing crates, and a dead upstream", async () => {
  await withStandIn(async (upstream, registry) => {
    const url = `${registry.url}/cargo/api/v1/crates/${upstream.name}/${upstream.version}/download`;
    for (const fault of ["corrupt", "truncated", "die-mid-stream"] as const) {
      upstream.fault = fault;
      await assert.rejects(fetch(url).then(readBody), Error, fault);
      assert.deepEqual(await tempFiles(registry.dataDir), [], fault);
    }
    upstream.fault = "404";
    const missing = await fetch(url);
    assert.equal(missing.status, 502);
    assert.match((await missing.json()).errors[0].detail, /answered 404/);

    upstream.fault = "none";
    assert.deepEqual(await readBody(await fetch(url)), upstream.tarball);
    await upstream.close();
    assert.deepEqual(await readBody(await fetch(url)), upstream.tarball);
    const never = await fetch(`${registry.url}/cargo/index/ne/ve/never-cached`);
    assert.equal(never.status, 502);
    assert.match((await never.json()).errors[0].detail, /upstream is unavailable/);
  });
});
