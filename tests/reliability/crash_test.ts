// kill -9 with many cold downloads in flight: after a restart on the same data dir the store
// verifies clean, no temp file survives, flushed counters are kept, and every download succeeds.
import assert from "node:assert/strict";
import { verifyStore } from "../../scripts/verify_store.ts";
import { freePort } from "../support/cli.ts";
import { startManyPackagesUpstream } from "../support/many_packages_upstream.ts";
import { readBody, tempFiles } from "../support/registry.ts";
import { type ServerProcess, startServerProcess } from "../support/server_process.ts";

const DOWNLOADS = 50;
const SIZE = 512 * 1024;
/** Each upstream body stops here until released: every download is in flight at the kill. */
const HOLD_AFTER = 192 * 1024;

const skip = Deno.build.os === "windows" ? "kill -9 (SIGKILL) needs a Unix-like OS" : undefined;
if (skip) console.warn(`skipping crash test: ${skip}`);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what: string, condition: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

type Counters = Record<string, Record<string, number>>;

async function counters(url: string): Promise<Counters> {
  const status = await fetch(`${url}/-/status`).then((response) => response.json());
  return status.ecosystems;
}

Deno.test({
  name: `kill -9 with ${DOWNLOADS} cold downloads in flight, then restart: store clean`,
  ignore: skip !== undefined,
  fn: async () => {
    const upstream = startManyPackagesUpstream({
      count: DOWNLOADS,
      size: SIZE,
      holdAfter: HOLD_AFTER,
    });
    const dataDir = await Deno.makeTempDir({ prefix: "vm-crash-" });
    const port = freePort();
    let server: ServerProcess | undefined;
    try {
      server = await startServerProcess({ port, dataDir, npmUpstream: upstream.url });
      const tarballUrl = (i: number) => {
        const pkg = upstream.packages[i];
        return `${server!.url}/npm/${pkg.name}/-/${pkg.filename}`;
      };

      // Warm metadata: every packument is cached before the downloads start.
      await Promise.all(upstream.packages.map(async (pkg) => {
        const response = await fetch(`${server!.url}/npm/${pkg.name}`);
        assert.equal(response.status, 200);
        assert.equal((await response.json()).name, pkg.name);
      }));

      // 50 cold downloads of distinct files, all held part-way by the upstream.
      let headersReceived = 0;
      const downloads = upstream.packages.map((_, i) =>
        fetch(tarballUrl(i)).then((response) => {
          assert.equal(response.status, 200);
          headersReceived++;
          return readBody(response);
        })
      );
      // Settled from the start: if a check below fails first, the kill in `finally` must not
      // turn these into unhandled rejections that hide that failure.
      const allSettled = Promise.allSettled(downloads);
      await until("every download to be held upstream", () => upstream.tarballsHeld === DOWNLOADS);
      await until("every client to get its headers", () => headersReceived === DOWNLOADS);

      // Counters flush every second: what is read now must be on disk before the kill.
      const flushed = await counters(server.url);
      await sleep(1_300);
      const inFlightAtKill = upstream.tarballsInFlight;
      const tempAtKill = (await tempFiles(dataDir)).length;
      assert.equal(tempAtKill, DOWNLOADS, "every download should be writing a temp file");

      server.kill("SIGKILL");
      const killed = await server.exited();
      assert.equal(killed.status.signal, "SIGKILL");
      const settled = await allSettled;
      const cutOff = settled.filter((result) => result.status === "rejected").length;
      assert.equal(cutOff, DOWNLOADS, "no client may get a complete body from a killed server");

      // Restart on the same data dir (and port): the stale server.json must not block it.
      server = await startServerProcess({ port, dataDir, npmUpstream: upstream.url });
      const restartMs = server.startMs;
      assert.deepEqual(await tempFiles(dataDir), [], "temp files must be discarded at start");
      const afterCrash = await verifyStore(dataDir);
      assert.deepEqual(afterCrash.bad, []);
      assert.ok(afterCrash.checked >= DOWNLOADS, "the warmed metadata documents are stored");

      const restored = await counters(server.url);
      for (const [ecosystem, values] of Object.entries(flushed)) {
        for (const [name, value] of Object.entries(values)) {
          if (name === "packages" || name === "privatePackages") continue;
          assert.ok(
            restored[ecosystem][name] >= value,
            `${ecosystem}.${name}: ${restored[ecosystem][name]} after restart < ${value} flushed`,
          );
        }
      }
      assert.ok(restored.npm.cacheMisses >= DOWNLOADS, "the in-flight misses were flushed");

      // The same downloads now succeed, whole and correct, fetched again from the upstream.
      upstream.release();
      const retryStarted = performance.now();
      const bodies = await Promise.all(
        upstream.packages.map((_, i) => fetch(tarballUrl(i)).then(readBody)),
      );
      const retryMs = performance.now() - retryStarted;
      bodies.forEach((body, i) => assert.deepEqual(body, upstream.packages[i].tarball));
      assert.equal(upstream.tarballRequests, 2 * DOWNLOADS);
      const afterRetry = await verifyStore(dataDir);
      assert.deepEqual(afterRetry.bad, []);
      assert.equal(afterRetry.checked, afterCrash.checked + DOWNLOADS);

      server.kill("SIGTERM");
      const stopped = await server.exited();
      assert.equal(stopped.status.code, 0, stopped.output);
      server = undefined;
      assert.deepEqual(await tempFiles(dataDir), []);

      console.log(
        `crash: ${inFlightAtKill} downloads in flight at kill -9 (${tempAtKill} temp files, ` +
          `${cutOff} clients cut off); restart ${restartMs.toFixed(0)} ms to healthy; ` +
          `${afterCrash.checked} blobs verified clean after restart, ${afterRetry.checked} ` +
          `after re-downloading ${DOWNLOADS} x ${SIZE / 1024} KiB in ${retryMs.toFixed(0)} ms; ` +
          `npm counters flushed/restored: requests ${flushed.npm.requests}/` +
          `${restored.npm.requests}, misses ${flushed.npm.cacheMisses}/` +
          `${restored.npm.cacheMisses}`,
      );
    } finally {
      if (server) {
        server.kill("SIGKILL");
        await server.exited();
      }
      await upstream.close();
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});
