// Runs the real `vm pkg` server from source as a separate process, the way a user starts it
// (`vm pkg start --foreground`), on 127.0.0.1 only, and reads its counters over HTTP.
import type { RegistryStatus } from "../src/registry/server.ts";
import { selfCommand } from "../src/daemon/self_command.ts";
import { copyOutput, freeLoopbackPort, processCpuSeconds, stopChild } from "./peers/process.ts";

export const PUBLIC_NPM = "https://registry.npmjs.org";
/** The public upstreams, by their normal names (the network rule), given explicitly to the server. */
export const PUBLIC_PYPI_INDEX = "https://pypi.org/simple";
export const PUBLIC_PYPI_FILES = "https://files.pythonhosted.org";
export const PUBLIC_CARGO_INDEX = "https://index.crates.io";
export const PUBLIC_CARGO_FILES = "https://static.crates.io/crates";
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;

/**
 * Metadata freshness for the benchmark servers. The default (300 s) would make a warm run that
 * starts more than five minutes after the priming install revalidate every packument upstream,
 * which measures revalidation, not a populated cache. Cold servers fetch everything anyway.
 */
export const BENCH_TTL_SECONDS = 86_400;

/** The ecosystems `GET /-/status` reports counters for. */
export type Ecosystem = "npm" | "pypi" | "cargo";

/** One ecosystem's counters of `GET /-/status`, as the server defines them. */
export type EcosystemCounters = RegistryStatus["ecosystems"][string];

export class BenchServer {
  private constructor(
    private readonly child: Deno.ChildProcess,
    private readonly logWritten: Promise<void>,
    readonly url: string,
    readonly dataDir: string,
    readonly logFile: string,
  ) {}

  /** The server's process id (for its CPU time and peak RSS). */
  get pid(): number {
    return this.child.pid;
  }

  /** npm's registry URL for this server. */
  get npmUrl(): string {
    return `${this.url}/npm/`;
  }

  /** pip's index URL for this server. */
  get pypiIndexUrl(): string {
    return `${this.url}/pypi/simple/`;
  }

  /** Starts a server on a free loopback port with `dataDir` and waits until it answers. */
  static async start(
    dataDir: string,
    logFile: string,
    options: { logRequests: boolean },
  ): Promise<BenchServer> {
    const port = freeLoopbackPort();
    // The way `vm pkg start` re-runs itself: same entry point, config and permissions.
    const { command, args } = selfCommand([
      "pkg",
      "start",
      "--foreground",
      "--host=127.0.0.1",
      `--port=${port}`,
      `--data=${dataDir}`,
      `--npm-upstream=${PUBLIC_NPM}`,
      `--pypi-upstream=${PUBLIC_PYPI_INDEX}`,
      `--pypi-files-upstream=${PUBLIC_PYPI_FILES}`,
      `--cargo-upstream=${PUBLIC_CARGO_INDEX}`,
      `--cargo-files-upstream=${PUBLIC_CARGO_FILES}`,
      `--ttl=${BENCH_TTL_SECONDS}`,
      // Nothing written into the project in the current directory, no listener on the Docker
      // bridge (loopback only), and no request log unless asked, whatever a config file says.
      "--no-config",
      "--no-bridge",
      options.logRequests ? "--log-requests" : "--no-log-requests",
    ]);
    const child = new Deno.Command(command, {
      args,
      cwd: dataDir,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const logWritten = copyOutput(child, logFile);
    const server = new BenchServer(child, logWritten, `http://127.0.0.1:${port}`, dataDir, logFile);
    try {
      await server.#waitUntilReady();
    } catch (error) {
      await server.stop();
      throw error;
    }
    return server;
  }

  async #waitUntilReady(): Promise<void> {
    let exited = false;
    this.child.status.then(() => exited = true);
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (exited) throw new Error(`the server exited at start:\n${await this.#logTail()}`);
      try {
        const response = await fetch(`${this.url}/-/health`, { signal: AbortSignal.timeout(1000) });
        await response.body?.cancel();
        if (response.ok) return;
      } catch {
        // Not listening yet.
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`the server did not answer within ${READY_TIMEOUT_MS / 1000}s`);
  }

  async counters(ecosystem: Ecosystem): Promise<EcosystemCounters> {
    const response = await fetch(`${this.url}/-/status`, { signal: AbortSignal.timeout(10_000) });
    if (!response.ok) throw new Error(`GET /-/status answered ${response.status}`);
    const status = await response.json() as {
      ecosystems: Partial<Record<Ecosystem, EcosystemCounters>>;
    };
    const counters = status.ecosystems[ecosystem];
    if (!counters) throw new Error(`GET /-/status has no counters for ${ecosystem}`);
    return counters;
  }

  /**
   * CPU seconds (user + system) the server process has used so far, from /proc (Linux only).
   * The server shares the machine's cores with npm, so its CPU time is part of the story.
   */
  cpuSeconds(): Promise<number | undefined> {
    return processCpuSeconds(this.child.pid);
  }

  /** SIGTERM (the server drains in-flight downloads), SIGKILL if it takes too long. */
  async stop(): Promise<void> {
    await stopChild(this.child, STOP_TIMEOUT_MS);
    await this.logWritten;
  }

  async #logTail(): Promise<string> {
    await this.logWritten.catch(() => {});
    const text = await Deno.readTextFile(this.logFile).catch(() => "");
    return text.trim().split("\n").slice(-10).join("\n");
  }
}

/** Counter differences between two snapshots: what one install cost. */
export function countersSpent(
  before: EcosystemCounters,
  after: EcosystemCounters,
): EcosystemCounters {
  const spent = {} as EcosystemCounters;
  for (const key of Object.keys(after) as (keyof EcosystemCounters)[]) {
    spent[key] = after[key] - before[key];
  }
  // packages is a gauge, not a counter: keep the total.
  spent.packages = after.packages;
  return spent;
}
