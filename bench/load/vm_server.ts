// The `vm pkg` server under load: a separate process (so its RSS and CPU are its own), started
// the way `vm pkg start` re-runs itself, on 127.0.0.1 with the public upstreams by their names.
import {
  BENCH_TTL_SECONDS,
  PUBLIC_CARGO_FILES,
  PUBLIC_CARGO_INDEX,
  PUBLIC_NPM,
  PUBLIC_PYPI_FILES,
  PUBLIC_PYPI_INDEX,
} from "../registry_server.ts";
import { selfCommand } from "../../src/daemon/self_command.ts";

const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;

export interface RunningVm {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

export async function startVmServer(
  dataDir: string,
  logFile: string,
  port: number,
): Promise<RunningVm> {
  const { command, args } = selfCommand([
    "pkg",
    "start",
    "--foreground",
    "--host=127.0.0.1",
    `--port=${port}`,
    `--data=${dataDir}`,
    // Nothing written into the project in the current directory, no Docker bridge listener, no
    // request log (one line per request would be part of what is measured).
    "--no-config",
    "--no-bridge",
    "--no-log-requests",
    `--npm-upstream=${PUBLIC_NPM}`,
    `--pypi-upstream=${PUBLIC_PYPI_INDEX}`,
    `--pypi-files-upstream=${PUBLIC_PYPI_FILES}`,
    `--cargo-upstream=${PUBLIC_CARGO_INDEX}`,
    `--cargo-files-upstream=${PUBLIC_CARGO_FILES}`,
    // Metadata stays fresh for the whole run: the points measure the cache, not revalidation.
    `--ttl=${BENCH_TTL_SECONDS}`,
  ]);
  const log = await Deno.open(logFile, { write: true, create: true, truncate: true });
  const child = new Deno.Command(command, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // Both streams into one file, each chunk written whole, in arrival order.
  let written = Promise.resolve();
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) {
      await (written = written.then(async () => {
        for (let offset = 0; offset < chunk.byteLength;) {
          offset += await log.write(chunk.subarray(offset));
        }
      }));
    }
  };
  const logWritten = Promise.all([pump(child.stdout), pump(child.stderr)])
    .catch(() => {})
    .finally(() => log.close());
  let exited = false;
  child.status.then(() => exited = true);
  const url = `http://127.0.0.1:${port}`;

  const stop = async () => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      child.kill("SIGTERM");
      const timedOut = new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), STOP_TIMEOUT_MS);
      });
      if (await Promise.race([child.status, timedOut]) === "timeout") child.kill("SIGKILL");
    } catch {
      // Already exited.
    } finally {
      clearTimeout(timer);
    }
    await child.status;
    await logWritten;
  };

  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (true) {
    if (exited) {
      await logWritten;
      const tail = (await Deno.readTextFile(logFile).catch(() => "")).trim().split("\n").slice(-10);
      throw new Error(`the vm pkg server exited at start:\n${tail.join("\n")}`);
    }
    try {
      const response = await fetch(`${url}/-/health`, { signal: AbortSignal.timeout(1000) });
      await response.body?.cancel();
      if (response.ok) break;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`the vm pkg server did not answer within ${READY_TIMEOUT_MS / 1000}s`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { url, pid: child.pid, stop };
}
