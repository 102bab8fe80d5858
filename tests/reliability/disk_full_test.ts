// A full disk: the data dir on a 4 MiB tmpfs. Files that do not fit fail clearly (507 before the
// first byte, a cut-off body after it, a log line saying why either way), the server stays up,
// nothing partial or corrupt is stored, and the same requests succeed once there is room.
import assert from "node:assert/strict";
import { statfs } from "node:fs/promises";
import { join } from "node:path";
import { verifyStore } from "../../scripts/verify_store.ts";
import type { Logger } from "../../src/registry/logger.ts";
import { startManyPackagesUpstream } from "../support/many_packages_upstream.ts";
import { runProcess } from "../support/process.ts";
import { readBody, tempFiles, withRegistry } from "../support/registry.ts";

const MiB = 1024 * 1024;

/** Why a size-limited tmpfs cannot be mounted here, or undefined when it can. */
async function mountProblem(): Promise<string | undefined> {
  if (Deno.build.os !== "linux") return "needs Linux (mount -t tmpfs)";
  if (Deno.uid() !== 0) {
    return "not root: mounting a size-limited tmpfs (or a loop device) needs root";
  }
  const dir = await Deno.makeTempDir({ prefix: "vm-disk-probe-" });
  try {
    const mounted = await runProcess("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", dir]);
    if (mounted.code !== 0) {
      return `mount -t tmpfs failed (a loop device needs the same privilege): ${mounted.stderr.trim()}`;
    }
    await runProcess("umount", [dir]);
    return undefined;
  } catch (error) {
    return `cannot run mount: ${(error as Error).message}`;
  } finally {
    await Deno.remove(dir).catch(() => {});
  }
}

const skip = await mountProblem();
if (skip) console.warn(`skipping disk-full test: ${skip}`);

async function mount(args: string[]): Promise<void> {
  const result = await runProcess("mount", args);
  assert.equal(result.code, 0, `mount ${args.join(" ")}: ${result.stderr}`);
}

async function freeBytes(path: string): Promise<number> {
  const { bavail, bsize } = await statfs(path);
  return bavail * bsize;
}

/** Fills the filesystem to the last page; returns how many bytes that took. */
async function fill(path: string): Promise<number> {
  using file = await Deno.open(path, { write: true, createNew: true });
  let written = 0;
  for (const size of [64 * 1024, 4096, 512, 1]) {
    const chunk = new Uint8Array(size);
    try {
      while (true) written += await file.write(chunk);
    } catch (error) {
      if ((error as { code?: string }).code !== "ENOSPC") throw error;
    }
  }
  return written;
}

Deno.test({
  name: "a full disk: 507 or a cut-off body, a clear log line, nothing partial, then recovery",
  ignore: skip !== undefined,
  fn: async () => {
    const mountPoint = await Deno.makeTempDir({ prefix: "vm-disk-full-" });
    const upstream = startManyPackagesUpstream({
      packages: [
        { name: "vm-disk-two", size: 2 * MiB },
        { name: "vm-disk-three", size: 3 * MiB },
        { name: "vm-disk-chunked", size: 3 * MiB, chunked: true },
        { name: "vm-disk-cold", size: 16 * 1024 },
      ],
    });
    const [two, three, chunked, cold] = upstream.packages;
    const logs: string[] = [];
    const logger: Logger = {
      info: () => {},
      warn: (message) => logs.push(`warn ${message}`),
      error: (message) => logs.push(`error ${message}`),
      request: () => {},
    };
    let mounted = false;
    try {
      await mount(["-t", "tmpfs", "-o", "size=4m", "tmpfs", mountPoint]);
      mounted = true;
      const dataDir = join(mountPoint, "data");
      await withRegistry(
        { dataDir, upstreams: { npm_upstream: upstream.url }, logger },
        async (registry) => {
          const tarball = (pkg: typeof two) => `${registry.npmUrl}/${pkg.name}/-/${pkg.filename}`;
          for (const pkg of [two, three, chunked]) {
            assert.equal(
              (await fetch(`${registry.npmUrl}/${pkg.name}`).then((r) => r.json())).name,
              pkg.name,
            );
          }

          // 2 MiB fits.
          assert.deepEqual(await readBody(await fetch(tarball(two))), two.tarball);
          const freeAfterTwo = await freeBytes(mountPoint);

          // 3 MiB with a Content-Length: refused before the first byte, with a clear status.
          const refused = await fetch(tarball(three));
          assert.equal(refused.status, 507);
          const refusal = (await refused.json()).error;
          assert.match(refusal, /disk is full \(no space left on device\)/);

          // 3 MiB of unknown length: it starts, then the disk fills; the body is cut off.
          const cut = await fetch(tarball(chunked));
          assert.equal(cut.status, 200); // sent before the disk filled
          await assert.rejects(readBody(cut));
          assert.ok(
            logs.some((line) =>
              /^error .*vm-disk-chunked.*disk full.*No space left on device/.test(line)
            ),
            `the log should say why:\n${logs.join("\n")}`,
          );

          // A full disk fails metadata too: a cold packument cannot be stored.
          const filler = join(mountPoint, "filler");
          const filled = await fill(filler);
          const metadata = await fetch(`${registry.npmUrl}/${cold.name}`);
          assert.equal(metadata.status, 507);
          assert.match((await metadata.json()).error, /disk is full/);

          // Still up; nothing partial, nothing corrupt.
          assert.equal((await fetch(`${registry.url}/-/health`).then((r) => r.json())).ok, true);
          assert.deepEqual(await tempFiles(dataDir), []);
          const whileFull = await verifyStore(dataDir);
          assert.deepEqual(whileFull.bad, []);
          const diskFullLines = logs.filter((line) => /disk full/.test(line));
          assert.ok(diskFullLines.length >= 3, logs.join("\n"));

          // Space returns: the same requests succeed.
          await Deno.remove(filler);
          await mount(["-o", "remount,size=64m", mountPoint]);
          assert.deepEqual(await readBody(await fetch(tarball(three))), three.tarball);
          assert.deepEqual(await readBody(await fetch(tarball(chunked))), chunked.tarball);
          assert.equal(
            (await fetch(`${registry.npmUrl}/${cold.name}`).then((r) => r.json())).name,
            cold.name,
          );
          assert.deepEqual(await readBody(await fetch(tarball(cold))), cold.tarball);
          assert.deepEqual(await tempFiles(dataDir), []);
          const recovered = await verifyStore(dataDir);
          assert.deepEqual(recovered.bad, []);
          assert.equal(recovered.checked, whileFull.checked + 6); // 3 files + the cold packument's 3

          console.log(
            `disk full: 4 MiB tmpfs, ${(freeAfterTwo / MiB).toFixed(2)} MiB free after a 2 MiB ` +
              `tarball; 3 MiB tarball -> ${refused.status} "${refusal}"; 3 MiB chunked -> 200 cut ` +
              `off; filler ${
                (filled / MiB).toFixed(2)
              } MiB -> cold packument ${metadata.status}; ` +
              `${diskFullLines.length} "disk full" log lines; ${whileFull.checked} blobs clean while ` +
              `full, ${recovered.checked} after remount to 64 MiB and retry`,
          );
          for (const line of diskFullLines) console.log(`  log: ${line}`);
        },
      );
    } finally {
      await upstream.close();
      if (mounted) {
        const unmounted = await runProcess("umount", [mountPoint]);
        if (unmounted.code !== 0) console.error(`umount ${mountPoint}: ${unmounted.stderr}`);
      }
      await Deno.remove(mountPoint, { recursive: true });
    }
  },
});
