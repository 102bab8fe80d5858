// Load: 200 concurrent clients for 60 s (VM_LOAD_SECONDS) mixing metadata and file downloads of
// all three ecosystems against the real server, run as its own process so its memory can be
// watched. Every request must succeed with the right bytes, and the server's RSS must not grow
// after the warm-up. The content is real (is-number, six, itoa from the public registries), fetched
// upstream once during the warm-up; the load itself is served from the cache.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { selfCommand } from "../../src/daemon/self_command.ts";
import { freePort } from "../support/cli.ts";
import { withTempDir } from "../support/process.ts";

const SECONDS = Number(Deno.env.get("VM_LOAD_SECONDS") ?? 60);
const CLIENTS = Number(Deno.env.get("VM_LOAD_CLIENTS") ?? 200);
const WARM_UP_SECONDS = Math.min(10, SECONDS / 4);

interface Target {
  url: string;
  headers?: HeadersInit;
  file?: boolean;
  expected?: { size: number; sha256: string };
}

Deno.test({
  name:
    `load: ${CLIENTS} clients for ${SECONDS} s across npm, PyPI and cargo: 0 failures, flat memory`,
  sanitizeResources: false, // the server child's pipes are closed when it exits, after the test body
  async fn() {
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
        const json = "application/vnd.pypi.simple.v1+json";
        const targets: Target[] = [
          { url: `${base}/npm/is-number` },
          {
            url: `${base}/npm/is-number`,
            headers: { accept: "application/vnd.npm.install-v1+json", "accept-encoding": "gzip" },
          },
          { url: `${base}/npm/is-number/-/is-number-7.0.0.tgz`, file: true },
          { url: `${base}/pypi/simple/six/`, headers: { accept: json } },
          { url: `${base}/pypi/files/six/six-1.16.0-py2.py3-none-any.whl`, file: true },
          { url: `${base}/cargo/index/it/oa/itoa` },
          { url: `${base}/cargo/api/v1/crates/itoa/1.0.14/download`, file: true },
          { url: `${base}/cargo/index/config.json` },
          { url: `${base}/-/status` },
        ];
        // Warm-up: the one upstream fetch of each; the verified files' digests are the reference.
        for (const target of targets) {
          const response = await fetch(target.url, target);
          const body = new Uint8Array(await response.arrayBuffer());
          assert.equal(response.status, 200, target.url);
          if (target.file) target.expected = { size: body.byteLength, sha256: sha256(body) };
        }

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
                target.expected && (body.byteLength !== target.expected.size ||
                  (i % 50 === 0 && sha256(body) !== target.expected.sha256))
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
