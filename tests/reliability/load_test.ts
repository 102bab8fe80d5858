// Load: 200 concurrent clients for 60 s (VM_LOAD_SECONDS) mixing metadata and file downloads of
// all three ecosystems against the real server, run as its own process so its memory can be
// watched. Every request must succeed with the right bytes, and the server's RSS must not grow
// after the warm-up. The upstream is a stand-in on loopback (the content is cached after the
// first request anyway, and the public registries deserve no load test).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { selfCommand } from "../../src/daemon/self_command.ts";
import { freePort } from "../support/cli.ts";
import { withTempDir } from "../support/process.ts";
import { startStandInUpstream } from "../support/stand_in_upstream.ts";

const SECONDS = Number(Deno.env.get("VM_LOAD_SECONDS") ?? 60);
const CLIENTS = Number(Deno.env.get("VM_LOAD_CLIENTS") ?? 200);
const WARM_UP_SECONDS = Math.min(10, SECONDS / 4);

Deno.test({
  name:
    `load: ${CLIENTS} clients for ${SECONDS} s across npm, PyPI and cargo: 0 failures, flat memory`,
  sanitizeResources: false, // the server child's pipes are closed when it exits, after the test body
  async fn() {
    const upstream = startStandInUpstream({ size: 256 * 1024 });
    const port = freePort();
    await withTempDir(async (dir) => {
      const { command, args } = selfCommand([
        "pkg",
        "start",
        "--foreground",
        "--no-config",
        "--no-bridge",
        `--port=${port}`,
        `--data=${join(dir, "data")}`,
        `--npm-upstream=${upstream.url}`,
        `--pypi-upstream=${upstream.url}/simple`,
        `--cargo-upstream=${upstream.url}/index`,
        `--cargo-files-upstream=${upstream.url}/crates`,
      ]);
      const server = new Deno.Command(command, {
        args,
        env: { VM_PKG_CONFIG: join(dir, "none.yaml") },
        stdout: "null",
        stderr: "null",
      }).spawn();
      try {
        const base = `http://127.0.0.1:${port}`;
        await waitForHealth(base);
        const name = upstream.name;
        const fileHash = sha256(upstream.tarball);
        const targets: { url: string; headers?: HeadersInit; file?: boolean }[] = [
          { url: `${base}/npm/${name}` },
          {
            url: `${base}/npm/${name}`,
            headers: { accept: "application/vnd.npm.install-v1+json", "accept-encoding": "gzip" },
          },
          { url: `${base}/npm/${name}/-/${upstream.filename}`, file: true },
          {
            url: `${base}/pypi/simple/${name}/`,
            headers: { accept: "application/vnd.pypi.simple.v1+json" },
          },
          { url: `${base}/pypi/files/${name}/${upstream.filename}`, file: true },
          { url: `${base}/cargo/index/${name.slice(0, 2)}/${name.slice(2, 4)}/${name}` },
          { url: `${base}/cargo/api/v1/crates/${name}/${upstream.version}/download`, file: true },
          { url: `${base}/cargo/index/config.json` },
          { url: `${base}/-/status` },
        ];
        for (const target of targets) await (await fetch(target.url, target)).arrayBuffer();

        let requests = 0;
        let bytes = 0;
        const failures: string[] = [];
        const rss: number[] = [];
        const deadline = performance.now() + SECONDS * 1000;
        const sampler = setInterval(() => {
          const kb = rssKb(server.pid);
          if (kb !== undefined) rss.push(kb);
        }, 1000);
        const client = async (id: number) => {
          let i = id;
          while (performance.now() < deadline) {
            const target = targets[i++ % targets.length];
            try {
              const response = await fetch(target.url, target);
              const body = new Uint8Array(await response.arrayBuffer());
              requests++;
              bytes += body.byteLength;
              if (response.status !== 200) {
                failures.push(`${target.url}: ${response.status}`);
              } else if (
                target.file && (body.byteLength !== upstream.tarball.byteLength ||
                  (i % 50 === 0 && sha256(body) !== fileHash))
              ) {
                failures.push(`${target.url}: wrong bytes`);
              }
            } catch (error) {
              failures.push(`${target.url}: ${(error as Error).message}`);
            }
          }
        };
        await Promise.all(Array.from({ length: CLIENTS }, (_, id) => client(id)));
        clearInterval(sampler);

        const warmUp = Math.max(1, Math.round(WARM_UP_SECONDS));
        const afterWarmUp = Math.max(...rss.slice(0, warmUp + 1));
        const end = Math.max(...rss.slice(-3));
        const peak = Math.max(...rss);
        console.log(
          `load: ${CLIENTS} clients, ${SECONDS} s: ${requests} requests ` +
            `(${Math.round(requests / SECONDS)}/s, ${
              (bytes / SECONDS / 1024 / 1024).toFixed(1)
            } MB/s)` +
            `, ${failures.length} failed; server RSS after warm-up ${mb(afterWarmUp)}, ` +
            `peak ${mb(peak)}, at the end ${mb(end)}`,
        );
        assert.deepEqual(failures.slice(0, 5), [], `${failures.length} failed requests`);
        // No growth after warm-up: the end is within 25% (+16 MB of allocator slack) of it.
        assert.ok(
          end <= afterWarmUp * 1.25 + 16 * 1024,
          `RSS grew from ${mb(afterWarmUp)} to ${mb(end)}`,
        );
      } finally {
        server.kill("SIGTERM");
        await server.status;
        await upstream.close();
      }
    });
  },
});

async function waitForHealth(base: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      const response = await fetch(`${base}/-/health`);
      await response.body?.cancel();
      if (response.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error("the server did not start");
}

function rssKb(pid: number): number | undefined {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
  } catch {
    return undefined;
  }
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function mb(kb: number): string {
  return `${(kb / 1024).toFixed(0)} MB`;
}
