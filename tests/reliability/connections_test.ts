// Hostile clients against the registry as users run it (`vm pkg start`, in the background, in its
// sandbox), under a lowered open-file limit so the attacks are cheap (issue 14, item 3 and the
// /-/status part of item 6): more idle sockets than the limit allows, slowloris heads, a chunked
// 200 MB audit body, and /-/status and /-/clients asked from an address that is not loopback.
// Figures from /proc: the server's descriptors (/proc/<pid>/fd) and memory (VmRSS, VmHWM).
import assert from "node:assert/strict";
import { join } from "node:path";
import type { RegistryStatus } from "../../src/registry/server.ts";
import { dataLayout } from "../../src/store/data_dir.ts";
import { selfCommand } from "../../src/daemon/self_command.ts";
import { freePort, runVm } from "../support/cli.ts";
import { runProcess, withTempDir } from "../support/process.ts";
import { startStandInUpstream } from "../support/stand_in_upstream.ts";

const DESCRIPTOR_LIMIT = 512;
const linux = Deno.build.os === "linux";

interface Server {
  url: string;
  port: number;
  pid: number;
  dataDir: string;
  stop(): Promise<void>;
}

/**
 * `vm pkg start` in the background with `args`, its data dir and config in `dir`; under
 * `prlimit --nofile=N:N` when `descriptors` is given (the server inherits the limit).
 */
async function startServer(
  dir: string,
  args: string[],
  options: { descriptors?: number; host?: string } = {},
): Promise<Server> {
  const env = { VM_PKG_DATA: join(dir, "data"), VM_PKG_CONFIG: join(dir, "pkg.yaml") };
  const port = freePort();
  const start = selfCommand([
    "pkg",
    "start",
    "--no-config",
    "--no-bridge",
    "--port",
    String(port),
    ...(options.host ? ["--host", options.host] : []),
    ...args,
  ]);
  const limit = options.descriptors;
  const result = limit
    ? await runProcess("prlimit", [`--nofile=${limit}:${limit}`, start.command, ...start.args], {
      env,
    })
    : await runProcess(start.command, start.args, { env });
  assert.equal(result.code, 0, `vm pkg start: ${result.stderr}${result.stdout}`);
  const url = `http://127.0.0.1:${port}`;
  const { pid } = await (await fetch(`${url}/-/health`)).json();
  return {
    url,
    port,
    pid,
    dataDir: env.VM_PKG_DATA,
    stop: async () => {
      const stopped = await runVm(["pkg", "stop"], env);
      assert.equal(stopped.code, 0, stopped.stderr);
    },
  };
}

const descriptors = (pid: number) => [...Deno.readDirSync(`/proc/${pid}/fd`)].length;

function memoryKb(pid: number, field: "VmRSS" | "VmHWM"): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)![1]);
}

/** Whether the server still answers /-/health within a second. */
async function healthy(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/-/health`, { signal: AbortSignal.timeout(1000) });
    return (await response.json()).ok === true;
  } catch {
    return false;
  }
}

/** Resolves once the peer closed `conn` (EOF or reset), or false after `ms`. */
async function closedWithin(conn: Deno.Conn, ms: number): Promise<boolean> {
  const buffer = new Uint8Array(4096);
  const deadline = AbortSignal.timeout(ms);
  const read = async (): Promise<boolean> => {
    while (true) {
      try {
        if (await conn.read(buffer) === null) return true;
      } catch {
        return true; // reset, or closed by us on timeout
      }
    }
  };
  const timedOut = new Promise<boolean>((resolve) => {
    deadline.addEventListener("abort", () => resolve(false), { once: true });
  });
  const closed = await Promise.race([read(), timedOut]);
  return closed;
}

async function connectAll(port: number, count: number): Promise<Deno.Conn[]> {
  const conns: Deno.Conn[] = [];
  for (let i = 0; i < count; i++) {
    try {
      conns.push(await Deno.connect({ hostname: "127.0.0.1", port }));
    } catch {
      // refused: counted by the caller as not opened
    }
  }
  return conns;
}

function closeAll(conns: Deno.Conn[]): void {
  for (const conn of conns) {
    try {
      conn.close();
    } catch {
      // closed already
    }
  }
}

async function statusOf(url: string, init: RequestInit = {}): Promise<RegistryStatus> {
  return await (await fetch(`${url}/-/status`, init)).json();
}

Deno.test({
  name: "idle and slowloris sockets past the open-file limit: the server stays up and closes them",
  ignore: !linux,
  async fn() {
    await withTempDir(async (dir) => {
      const upstream = startStandInUpstream({ size: 64 * 1024 });
      const server = await startServer(dir, [
        "--npm-upstream",
        upstream.url,
        "--header-timeout",
        "2",
        "--idle-timeout",
        "3",
      ], { descriptors: DESCRIPTOR_LIMIT });
      const idle: Deno.Conn[] = [];
      const slow: Deno.Conn[] = [];
      const timers: ReturnType<typeof setInterval>[] = [];
      try {
        const packument = `${server.url}/npm/${upstream.name}`;
        assert.equal(
          (await fetch(packument).then(async (r) => (await r.body?.cancel(), r))).status,
          200,
        );
        const before = descriptors(server.pid);
        const cap = (await statusOf(server.url)).connections!.max;
        assert.ok(cap < DESCRIPTOR_LIMIT / 2, `max_connections ${cap} from a limit of 512`);

        // More sockets that say nothing than the process may have descriptors.
        idle.push(...await connectAll(server.port, DESCRIPTOR_LIMIT + 100));
        // Slowloris: half a request head, one header line every 500 ms.
        for (const conn of await connectAll(server.port, 50)) {
          slow.push(conn);
          const encoder = new TextEncoder();
          await conn.write(encoder.encode("GET /-/health HTTP/1.1\r\nHost: x\r\n")).catch(() => {});
          timers.push(setInterval(() => {
            conn.write(encoder.encode("X-Slow: 1\r\n")).catch(() => {});
          }, 500));
        }
        const peak = descriptors(server.pid);

        // At the cap, the server still answers: sockets without a request make room.
        assert.ok(await healthy(server.url), "the server stopped answering /-/health");
        const during = await fetch(packument);
        assert.equal(during.status, 200);
        await during.body?.cancel();
        const crowded = descriptors(server.pid);
        assert.ok(
          peak < DESCRIPTOR_LIMIT - 100 && crowded < DESCRIPTOR_LIMIT - 100,
          `descriptors ${peak}, ${crowded}: not bounded below the limit of ${DESCRIPTOR_LIMIT}`,
        );

        // After the header timeout (2 s) every silent and slowloris socket is closed.
        const closed = await Promise.all(
          [...idle, ...slow].map((conn) => closedWithin(conn, 6000)),
        );
        const open = closed.filter((each) => !each).length;
        assert.equal(open, 0, `${open} of ${closed.length} idle or slowloris sockets still open`);
        const figures = (await statusOf(server.url)).connections!;
        const after = descriptors(server.pid);
        console.log(
          `descriptors: ${before} before, ${peak} with ${idle.length} idle + ${slow.length} ` +
            `slowloris sockets open (limit ${DESCRIPTOR_LIMIT}, max_connections ${cap}), ` +
            `${after} after the header timeout; ${figures.evicted} closed at the cap, ` +
            `${figures.refused} refused, ${figures.open} open now`,
        );
        assert.ok(figures.evicted > 0, "the cap was never reached");
        assert.ok(after <= before + 5, `descriptors ${after} after the attack, ${before} before`);

        // A kept-alive connection is closed once idle for idle_timeout (3 s).
        const kept = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
        idle.push(kept);
        await kept.write(new TextEncoder().encode("GET /-/health HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert.ok(await closedWithin(kept, 6000), "an idle kept-alive connection stayed open");
        assert.ok(await healthy(server.url));
      } finally {
        for (const timer of timers) clearInterval(timer);
        closeAll(idle);
        closeAll(slow);
        await server.stop();
        await upstream.close();
      }
    });
  },
});

/** `total` bytes of zeros, made as they are read: the test never holds the body. */
function generatedBody(total: number): { stream: ReadableStream<Uint8Array>; sent(): number } {
  let sent = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= total) return controller.close();
      const chunk = new Uint8Array(Math.min(64 * 1024, total - sent));
      sent += chunk.byteLength;
      controller.enqueue(chunk);
    },
  });
  return { stream, sent: () => sent };
}

Deno.test({
  name: "a chunked 200 MB audit POST is cut at the limit with 413, memory stays bounded",
  ignore: !linux,
  async fn() {
    await withTempDir(async (dir) => {
      const upstream = startStandInUpstream();
      const server = await startServer(dir, ["--npm-upstream", upstream.url]);
      try {
        const rssBefore = memoryKb(server.pid, "VmRSS");
        // Peak memory from here on.
        await Deno.writeTextFile(`/proc/${server.pid}/clear_refs`, "5");
        const body = generatedBody(200 * 1024 * 1024);
        const started = performance.now();
        const response = await fetch(`${server.url}/npm/-/npm/v1/security/advisories/bulk`, {
          method: "POST",
          headers: { "content-type": "application/json", "content-encoding": "gzip" },
          body: body.stream,
        });
        const text = await response.text();
        const peak = memoryKb(server.pid, "VmHWM");
        console.log(
          `audit POST, chunked: ${response.status} after ${
            (body.sent() / 1024 / 1024).toFixed(0)
          } ` +
            `MB sent in ${((performance.now() - started) / 1000).toFixed(1)} s; server RSS ` +
            `${(rssBefore / 1024).toFixed(0)} MB before, peak ${(peak / 1024).toFixed(0)} MB`,
        );
        assert.equal(response.status, 413, text);
        assert.match(text, /audit request over 16 MB/);
        assert.ok(
          peak - rssBefore < 64 * 1024,
          `RSS went from ${rssBefore} kB to a peak of ${peak} kB`,
        );
        assert.ok(await healthy(server.url));
      } finally {
        await server.stop();
        await upstream.close();
      }
    });
  },
});

/** A non-loopback IPv4 address of this machine, or undefined when it has none. */
function ownAddress(): string | undefined {
  return Deno.networkInterfaces().find((each) =>
    each.family === "IPv4" && !each.address.startsWith("127.")
  )?.address;
}

Deno.test({
  name: "/-/status and /-/clients: paths, pid and addresses only to loopback or with the token",
  ignore: !linux || ownAddress() === undefined,
  async fn() {
    await withTempDir(async (dir) => {
      const upstream = startStandInUpstream();
      // Every interface, so one client can come from loopback and one from the machine's own
      // address (not loopback, as a VM on the Docker bridge is not).
      const server = await startServer(dir, ["--npm-upstream", upstream.url], { host: "0.0.0.0" });
      const outside = `http://${ownAddress()}:${server.port}`;
      try {
        const token = (await Deno.readTextFile(dataLayout(server.dataDir).tokenFile)).trim();
        for (const base of [server.url, outside]) {
          const response = await fetch(`${base}/npm/${upstream.name}`);
          await response.body?.cancel();
        }

        const fromHost = await statusOf(server.url);
        assert.equal(fromHost.dataDir, server.dataDir);
        assert.equal(fromHost.pid, server.pid);
        assert.equal(fromHost.upstreams.npm, upstream.url);
        assert.ok(fromHost.upstreamHealth?.npm.lastSuccessAt, "the npm upstream answered");

        const fromOutside = await statusOf(outside);
        assert.equal(fromOutside.dataDir, undefined);
        assert.equal(fromOutside.pid, undefined);
        assert.equal(fromOutside.upstreams, undefined);
        assert.equal(fromOutside.upstreamHealth, undefined, "URLs and errors stay private");
        // The figures stay.
        assert.equal(fromOutside.totals.requests, fromHost.totals.requests);
        assert.equal(fromOutside.ecosystems.npm.documents, 1);

        const withToken = await statusOf(outside, {
          headers: { authorization: `Bearer ${token}` },
        });
        assert.equal(withToken.dataDir, server.dataDir);
        assert.equal(withToken.pid, server.pid);
        const wrongToken = await statusOf(outside, { headers: { authorization: "Bearer nope" } });
        assert.equal(wrongToken.dataDir, undefined);

        const clients = async (base: string, init: RequestInit = {}) =>
          Object.keys((await (await fetch(`${base}/-/clients`, init)).json()).clients).sort();
        const everyone = [ownAddress()!, "127.0.0.1"].sort();
        assert.deepEqual(await clients(server.url), everyone);
        // From outside: only its own counters, and no one else's by asking for them.
        assert.deepEqual(await clients(outside), [ownAddress()]);
        const other = await (await fetch(`${outside}/-/clients?address=127.0.0.1`)).json();
        assert.deepEqual(other.clients, {});
        assert.deepEqual(
          await clients(outside, { headers: { authorization: `Bearer ${token}` } }),
          everyone,
        );

        // `vm pkg status --server` to it shows what it can.
        const shown = await runVm(["pkg", "status", "--server", outside], {
          VM_PKG_DATA: join(dir, "elsewhere"),
          VM_PKG_CONFIG: join(dir, "pkg.yaml"),
        });
        assert.equal(shown.code, 0, shown.stderr);
        assert.match(
          shown.stdout,
          /Data dir: +\(shown only on the registry's host or with its token\)/,
        );
        assert.doesNotMatch(shown.stdout, new RegExp(server.dataDir));
        assert.match(shown.stdout, /Hit ratio/);
      } finally {
        await server.stop();
        await upstream.close();
      }
    });
  },
});
