// Disk bounded (issue 14, items 4, 6 and 9): what a client or a busy day can make the registry
// keep on disk. Every distinct Host header used to write another full copy of a rendered document
// (never removed, never counted); max_cache_size spared every file used in the last minute and
// was enforced only after the next store; the data dir and its files were readable by everyone.
// The real server runs in-process (and once as `vm pkg start` in the background) with stand-in
// upstreams on loopback; time passes through the server's test clock, never by sleeping. Each
// test prints the bytes on disk before and after.
import assert from "node:assert/strict";
import { join } from "node:path";
import { AdjustableClock } from "../../src/store/clock.ts";
import type { RegistryOptions, RegistryStatus } from "../../src/registry/server.ts";
import { freePort, runVm } from "../support/cli.ts";
import {
  type HostileUpstream,
  sha512Integrity,
  startHostileUpstream,
} from "../support/hostile_upstream.ts";
import { randomBytes, startManyPackagesUpstream } from "../support/many_packages_upstream.ts";
import { rawGet, readBody, type TestRegistry, withRegistry } from "../support/registry.ts";
import { withTempDir } from "../support/process.ts";

const MiB = 1024 ** 2;
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

// --- Measuring ------------------------------------------------------------------------------------

/** Bytes of every file under `path` (0 when it does not exist). */
async function du(path: string): Promise<number> {
  let total = 0;
  try {
    for await (const entry of Deno.readDir(path)) {
      const child = join(path, entry.name);
      if (entry.isDirectory) total += await du(child);
      else if (entry.isFile) total += (await Deno.stat(child).catch(() => ({ size: 0 }))).size;
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return total;
}

/** What the cache holds on disk: blobs, renderings and temp files. */
async function cacheOnDisk(dataDir: string) {
  const [blobs, rendered, tmp] = await Promise.all(
    ["blobs", "rendered", "tmp"].map((dir) => du(join(dataDir, dir))),
  );
  return { blobs, rendered, tmp, total: blobs + rendered + tmp };
}

/** Polls until `done` holds (background passes and renderings finish), or the deadline. */
async function eventually(done: () => Promise<boolean>, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await done()) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

// --- A big packument --------------------------------------------------------------------------------

/** A packument of about 1.4 MB: 3,000 versions, each with its tarball URL on the upstream. */
function bigPackument(upstream: string, name = "big"): string {
  const versions: Record<string, unknown> = {};
  for (let i = 0; i < 3000; i++) {
    const version = `1.0.${i}`;
    versions[version] = {
      name,
      version,
      description: "a package with a long history ".repeat(6),
      dist: {
        tarball: `${upstream}/${name}/-/${name}-${version}.tgz`,
        integrity: `sha512-${"A".repeat(86)}==`,
        shasum: "0".repeat(40),
      },
    };
  }
  return JSON.stringify({ _id: name, name, "dist-tags": { latest: "1.0.2999" }, versions });
}

async function withUpstream(
  options: Partial<RegistryOptions>,
  fn: (registry: TestRegistry, upstream: HostileUpstream) => Promise<void>,
): Promise<void> {
  const upstream = startHostileUpstream();
  try {
    await withRegistry({
      upstreams: {
        npm_upstream: upstream.url,
        pypi_upstream: `${upstream.url}/simple`,
        pypi_files_upstream: `${upstream.url}/files`,
        cargo_upstream: `${upstream.url}/index`,
        cargo_files_upstream: `${upstream.url}/crates`,
      },
      ...options,
    }, (registry) => fn(registry, upstream));
  } finally {
    await upstream.close();
  }
}

// --- Rendered documents -------------------------------------------------------------------------------

Deno.test("100 distinct Host headers on a 1.4 MB packument: rendered/ does not grow, each gets its URLs", async () => {
  await withUpstream({}, async (registry, upstream) => {
    const packument = bigPackument(upstream.url);
    upstream.routes.set("/big", {
      headers: { "content-type": "application/json" },
      body: packument,
    });
    const port = registry.port;
    const rendered = join(registry.dataDir, "rendered");
    // The host's and a VM's names: these renderings are kept.
    for (const host of [`127.0.0.1:${port}`, `host.docker.internal:${port}`]) {
      const got = await rawGet(port, "/npm/big", { host, accept: "application/json" });
      assert.equal(got.status, 200);
      assert.ok(got.body.includes(`"tarball":"http://${host}/npm/big/-/big-1.0.0.tgz"`));
    }
    await eventually(async () => await du(rendered) >= 2 * packument.length);
    const before = await du(rendered);

    const started = performance.now();
    for (let i = 0; i < 100; i++) {
      const host = `client-${i}.example:${port}`;
      const got = await rawGet(port, "/npm/big", { host, accept: "application/json" });
      assert.equal(got.status, 200);
      // Each client still gets tarball URLs through the name it used.
      assert.ok(got.body.includes(`"tarball":"http://${host}/npm/big/-/big-1.0.2999.tgz"`), host);
      assert.ok(!got.body.includes("@@vm-pkg-base-url@@"));
    }
    const seconds = (performance.now() - started) / 1000;
    await new Promise((resolve) => setTimeout(resolve, 300)); // background writes, if any
    const after = await du(rendered);
    console.log(
      `100 Hosts × ${mb(packument.length)} packument: rendered/ ${mb(before)} before, ` +
        `${mb(after)} after (${seconds.toFixed(1)} s for the 100 requests)`,
    );
    assert.ok(after - before < packument.length / 2, `rendered/ grew by ${mb(after - before)}`);

    // Other spellings of a kept name are that name: one more copy (localhost), not three.
    for (const host of [`LOCALHOST:${port}`, `127.1:${port}`, `127.0.0.1:0${port}`]) {
      const got = await rawGet(port, "/npm/big", { host, accept: "application/json" });
      assert.equal(got.status, 200);
      const normalized = host.startsWith("LOCALHOST") ? `localhost:${port}` : `127.0.0.1:${port}`;
      assert.ok(got.body.includes(`"tarball":"http://${normalized}/npm/big/-/big-1.0.0.tgz"`));
    }
    await eventually(async () => await du(rendered) >= after + packument.length);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const spelled = await du(rendered);
    assert.ok(spelled - after <= packument.length * 1.1, `spellings added ${mb(spelled - after)}`);
  });
});

Deno.test("renderings left for other Hosts and for replaced documents go at start-up and at gc, under max_cache_size", async () => {
  await withTempDir(async (dir) => {
    const dataDir = join(dir, "data");
    const limit = 5 * MiB;
    let live = "";
    let served = 0;
    await withUpstream({ dataDir, maxCacheBytes: limit }, async (registry, upstream) => {
      const packument = bigPackument(upstream.url);
      upstream.routes.set("/big", {
        headers: { "content-type": "application/json" },
        body: packument,
      });
      const response = await fetch(`${registry.npmUrl}/big`, {
        headers: { "accept-encoding": "identity" },
      });
      served = (await readBody(response)).byteLength;
      await eventually(async () => await du(join(dataDir, "rendered")) >= served);
      for await (const prefix of Deno.readDir(join(dataDir, "rendered"))) {
        for await (const file of Deno.readDir(join(dataDir, "rendered", prefix.name))) {
          if (!file.name.endsWith(".gz")) live = join(dataDir, "rendered", prefix.name, file.name);
        }
      }
    });
    // What an older version left: a copy of the document for each of 30 Hosts, and renderings of
    // a document no record refers to any more. (This run listens on another port: the copy for
    // 127.0.0.1 of the first run is one of another base now, too.)
    const bytes = await Deno.readFile(live);
    const [digest] = live.split("/").pop()!.split("-");
    const stale = "f".repeat(64);
    await Deno.mkdir(join(dataDir, "rendered", stale.slice(0, 2)), { recursive: true });
    for (let i = 0; i < 30; i++) {
      const base = i.toString(16).padStart(16, "0");
      await Deno.writeFile(
        join(dataDir, "rendered", digest.slice(0, 2), `${digest}-${base}`),
        bytes,
      );
    }
    await Deno.writeFile(
      join(dataDir, "rendered", stale.slice(0, 2), `${stale}-${"1".repeat(16)}`),
      bytes,
    );
    const before = await cacheOnDisk(dataDir);

    await withUpstream({ dataDir, maxCacheBytes: limit }, async (registry) => {
      // Removed in the background at start-up…
      await eventually(async () => (await cacheOnDisk(dataDir)).rendered < 2 * bytes.length);
      // …and by gc, which leaves only what is served.
      const gc = await fetch(`${registry.url}/-/gc`, {
        method: "POST",
        headers: { authorization: `Bearer ${registry.token}` },
      });
      assert.equal(gc.status, 200);
      await gc.body?.cancel();
      const after = await cacheOnDisk(dataDir);
      const status = await registry.status();
      console.log(
        `leftover renderings (30 Hosts + a replaced document): rendered/ ${mb(before.rendered)} ` +
          `before, ${mb(after.rendered)} after start-up and gc; cache ${mb(before.total)} → ` +
          `${mb(after.total)} under a ${mb(limit)} limit`,
      );
      assert.ok(after.rendered <= served, `rendered/ still holds ${mb(after.rendered)}`);
      assert.ok(after.total <= limit, `the cache holds ${mb(after.total)}`);
      assert.equal(status.cache.renderedBytes, after.rendered);
      // The document is still served (rendered again for this run's base).
      const again = await fetch(`${registry.npmUrl}/big`, {
        headers: { "accept-encoding": "identity" },
      });
      assert.equal((await readBody(again)).byteLength, served);
    });
  });
});

// --- max_cache_size -----------------------------------------------------------------------------------

Deno.test("30 × 1 MiB downloads under a 5 MiB limit: at most one file over it once they complete, also idle", async () => {
  const upstream = startManyPackagesUpstream({ count: 30, size: MiB });
  const clock = new AdjustableClock();
  const limit = 5 * MiB;
  try {
    await withRegistry(
      { upstreams: { npm_upstream: upstream.url }, maxCacheBytes: limit, testClock: clock },
      async (registry) => {
        const started = performance.now();
        let peak = 0;
        for (let i = 0; i < upstream.packages.length; i += 10) {
          await Promise.all(
            upstream.packages.slice(i, i + 10).map(async (pkg) => {
              const response = await fetch(`${registry.npmUrl}/${pkg.name}/-/${pkg.filename}`);
              assert.equal(response.status, 200);
              assert.equal((await readBody(response)).byteLength, MiB);
            }),
          );
          peak = Math.max(peak, (await cacheOnDisk(registry.dataDir)).total);
        }
        const seconds = (performance.now() - started) / 1000;
        // Every file was stored or used within the last seconds: recent use spares nothing.
        await eventually(async () => (await cacheOnDisk(registry.dataDir)).total <= limit + MiB);
        const done = await cacheOnDisk(registry.dataDir);
        const status = await registry.status();
        // Idle: 80 s pass with nothing stored.
        clock.advance(80_000);
        await new Promise((resolve) => setTimeout(resolve, 200));
        const idle = await cacheOnDisk(registry.dataDir);
        console.log(
          `30 × 1 MiB downloads in ${seconds.toFixed(1)} s under a ${mb(limit)} limit: ` +
            `${mb(peak)} on disk at the peak, ${mb(done.total)} once they completed ` +
            `(status: ${mb(status.cache.bytes)}), ${mb(idle.total)} after 80 s idle`,
        );
        assert.ok(done.total <= limit + MiB, `${mb(done.total)} on disk once downloads completed`);
        assert.ok(idle.total <= limit + MiB, `${mb(idle.total)} on disk after 80 s idle`);
        assert.equal(status.cache.bytes, done.total, "status counts what is on disk");
        // What was evicted is downloaded again when asked for.
        const first = upstream.packages[0];
        const again = await fetch(`${registry.npmUrl}/${first.name}/-/${first.filename}`);
        assert.deepEqual(await readBody(again), first.tarball);
      },
    );
  } finally {
    await upstream.close();
  }
});

Deno.test("rendered/ and tmp/ count in /-/status and toward max_cache_size", async () => {
  const tarball = randomBytes(MiB);
  // Measured: blobs (1 MiB file, the packument, its abbreviated form and indexes) stay under this
  // limit, and two renderings of the packument take the cache over it.
  const limit = Math.floor(5.5 * MiB);
  await withUpstream({ maxCacheBytes: limit }, async (registry, upstream) => {
    const packument = bigPackument(upstream.url);
    upstream.routes.set("/big", {
      headers: { "content-type": "application/json" },
      body: packument,
    });
    upstream.routes.set("/file", {
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        name: "file",
        "dist-tags": { latest: "1.0.0" },
        versions: {
          "1.0.0": {
            name: "file",
            version: "1.0.0",
            dist: {
              tarball: `${upstream.url}/file/-/file-1.0.0.tgz`,
              integrity: sha512Integrity(tarball),
            },
          },
        },
      }),
    });
    upstream.routes.set("/file/-/file-1.0.0.tgz", { body: tarball });
    const file = await fetch(`${registry.npmUrl}/file/-/file-1.0.0.tgz`);
    assert.deepEqual(await readBody(file), tarball);
    // The abbreviated document (what pnpm asks for): a blob, and one rendering.
    const abbreviated = await fetch(`${registry.npmUrl}/big`, {
      headers: { accept: "application/vnd.npm.install-v1+json" },
    });
    await abbreviated.body?.cancel();
    const stored = await cacheOnDisk(registry.dataDir);
    assert.ok(stored.total < limit, `${mb(stored.total)} before the renderings`);

    // The full document through two names: two renderings of 1.4 MB.
    const port = registry.port;
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`]) {
      const got = await rawGet(port, "/npm/big", { host, accept: "application/json" });
      assert.equal(got.status, 200);
    }
    const rendered = await du(join(registry.dataDir, "rendered"));
    await eventually(async () => (await cacheOnDisk(registry.dataDir)).total <= limit);
    const after = await cacheOnDisk(registry.dataDir);
    const status = (await registry.status()).cache;
    console.log(
      `renderings count: ${mb(stored.total)} stored, renderings took it to ` +
        `${mb(stored.total + rendered - stored.rendered)} over a ${mb(limit)} limit; ` +
        `${mb(after.total)} after the pass (blobs ${mb(after.blobs)}, rendered ${
          mb(after.rendered)
        })`,
    );
    assert.ok(after.total <= limit, `${mb(after.total)} on disk over a ${mb(limit)} limit`);
    assert.equal(status.renderedBytes, after.rendered);
    assert.equal(status.blobBytes, after.blobs);
    assert.equal(status.bytes, after.blobs + after.rendered + after.tmp);
  });

  // A download in progress is in tmp/, and counted.
  const held = startManyPackagesUpstream({ count: 1, size: 2 * MiB, holdAfter: MiB });
  try {
    await withRegistry({ upstreams: { npm_upstream: held.url } }, async (registry) => {
      const pkg = held.packages[0];
      const response = fetch(`${registry.npmUrl}/${pkg.name}/-/${pkg.filename}`);
      await eventually(() => Promise.resolve(held.tarballsHeld === 1));
      await eventually(async () => (await cacheOnDisk(registry.dataDir)).tmp >= MiB);
      const onDisk = await cacheOnDisk(registry.dataDir);
      const status: RegistryStatus["cache"] = (await registry.status()).cache;
      console.log(
        `a download held at ${mb(MiB)}: tmp/ ${mb(onDisk.tmp)}, status tmpBytes ${
          mb(status.tmpBytes ?? 0)
        }, bytes ${mb(status.bytes)}`,
      );
      assert.equal(status.tmpBytes, onDisk.tmp);
      assert.equal(status.bytes, onDisk.total);
      held.release();
      assert.deepEqual(await readBody(await response), pkg.tarball);
    });
  } finally {
    await held.close();
  }
});

// --- Permissions --------------------------------------------------------------------------------------

/** Every path under `dir` whose mode is not 0700 (directories) or 0600 (files). */
async function looseModes(dir: string): Promise<string[]> {
  const loose: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    const mode = (await Deno.lstat(path)).mode! & 0o777;
    const wanted = entry.isDirectory ? 0o700 : 0o600;
    if (mode !== wanted) loose.push(`${path.slice(dir.length)} ${mode.toString(8)}`);
    if (entry.isDirectory) loose.push(...(await looseModes(path)).map((p) => entry.name + p));
  }
  return loose;
}

Deno.test({
  name: "vm pkg start and a publish: the data dir is 0700 and every file in it 0600",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    await withTempDir(async (dir) => {
      const upstream = startHostileUpstream(); // 404 for everything: the name is free
      const dataDir = join(dir, "data");
      // As an older version (or the CLI's mkdir) left it.
      await Deno.mkdir(dataDir, { mode: 0o755 });
      await Deno.chmod(dataDir, 0o755);
      const env = { VM_PKG_DATA: dataDir, VM_PKG_CONFIG: join(dir, "pkg.yaml") };
      const port = freePort();
      const url = `http://127.0.0.1:${port}`;
      try {
        const start = await runVm([
          "pkg",
          "start",
          "--port",
          String(port),
          "--no-config",
          "--no-bridge",
          ...["npm", "pypi", "pypi-files", "cargo", "cargo-files"].flatMap((eco) => [
            `--${eco}-upstream`,
            upstream.url,
          ]),
        ], env);
        assert.equal(start.code, 0, start.stderr);
        const token = (await Deno.readTextFile(join(dataDir, "token"))).trim();
        const tarball = new Uint8Array(
          await new Response(
            new Blob(["private bytes"]).stream().pipeThrough(new CompressionStream("gzip")),
          ).arrayBuffer(),
        );
        const publish = await fetch(`${url}/npm/mine`, {
          method: "PUT",
          headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
          body: JSON.stringify({
            _id: "mine",
            name: "mine",
            "dist-tags": { latest: "1.0.0" },
            versions: {
              "1.0.0": {
                name: "mine",
                version: "1.0.0",
                dist: { integrity: sha512Integrity(tarball), tarball: "http://x/mine-1.0.0.tgz" },
              },
            },
            _attachments: {
              "mine-1.0.0.tgz": {
                content_type: "application/octet-stream",
                data: tarball.toBase64(),
                length: tarball.byteLength,
              },
            },
          }),
        });
        assert.equal(publish.status, 201, await publish.text());
        const served = await fetch(`${url}/npm/mine`, { headers: { "accept-encoding": "gzip" } });
        assert.equal(served.status, 200);
        await served.body?.cancel();
        await new Promise((resolve) => setTimeout(resolve, 300)); // the gzip rendering
        const dirMode = (await Deno.stat(dataDir)).mode! & 0o777;
        const loose = await looseModes(dataDir);
        const files = (await Array.fromAsync(Deno.readDir(dataDir))).map((e) => e.name).sort();
        const modes = await Promise.all(
          files.map(async (name) =>
            `${name} ${((await Deno.stat(join(dataDir, name))).mode! & 0o777).toString(8)}`
          ),
        );
        console.log(
          `data dir ${dirMode.toString(8)} after a start and a publish: ${modes.join(", ")}; ` +
            `deeper paths not 0600/0700: ${loose.length === 0 ? "none" : loose.join(", ")}`,
        );
        assert.equal(dirMode, 0o700);
        assert.deepEqual(loose, []);
      } finally {
        await runVm(["pkg", "stop"], env);
        await upstream.close();
      }
    });
  },
});
