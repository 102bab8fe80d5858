// Runs the real `vm pkg` server from source as a separate process, the way a user starts it
// (`vm pkg start --foreground`), on 127.0.0.1 only, reads its counters over HTTP, and moves its
// clock forward (to measure it past the metadata TTL without waiting a day).
import { readToken } from "../src/registry/auth.ts";
import type { RegistryStatus } from "../src/registry/server.ts";
import { selfCommand } from "../src/daemon/self_command.ts";
import { copyOutput, freeLoopbackPort, processCpuSeconds, stopChild } from "./peers/process.ts";

export const PUBLIC_NPM = "https://registry.npmjs.org";
/** The public upstreams, by their normal names (the network rule), given explicitly to the server. */
export const PUBLIC_PYPI_INDEX = "https://pypi.org/simple";
export const PUBLIC_PYPI_FILES = "https://files.pythonhosted.org";
export const PUBLIC_CARGO_INDEX = "https://index.crates.io";
export const PUBLIC_CARGO_FILES = "https://static.crates.io/crates";
export const PUBLIC_GOPROXY = "https://proxy.golang.org";
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;

/**
 * Metadata freshness for the benchmark servers. The default (300 s) would make a warm run that
 * starts more than five minutes after the priming install revalidate every packument upstream,
 * which measures revalidation, not a populated cache. Cold servers fetch everything anyway.
 */
export const BENCH_TTL_SECONDS = 86_400;

/**
 * How long past the TTL a document is still answered at once while it is refreshed in the
 * background (the server's default, 3 days, given explicitly like the TTL). It must exceed
 * `STALE_CLOCK_STEP_SECONDS`, or the stale way would measure clients waiting for the refresh.
 */
export const BENCH_MAX_STALE_SECONDS = 3 * 86_400;

/**
 * How far the warm server's clock moves before each run of the stale way: a minute past the TTL,
 * so every document the client asks for, however recently the previous run refreshed it, is past
 * its TTL (and well within `BENCH_MAX_STALE_SECONDS`).
 */
export const STALE_CLOCK_STEP_SECONDS = BENCH_TTL_SECONDS + 60;

/** How long the server must stay quiet to count as done with a run's background work. */
const SETTLE_WINDOW_MS = 1000;
/** Less CPU than this share of one core over the window counts as quiet. */
const SETTLE_CPU_SHARE = 0.1;
const SETTLE_TIMEOUT_MS = 120_000;

/** The ecosystems `GET /-/status` reports counters for. */
export type Ecosystem = "npm" | "pypi" | "cargo" | "go";

/** One ecosystem's counters of `GET /-/status`, as the server defines them. */
export type EcosystemCounters = RegistryStatus["ecosystems"][string];

/** How long a run's background work went on after the client finished, and whether it ended. */
export interface Settling {
  /**
   * Seconds from the client's end until the server was quiet, in whole seconds (it is polled once
   * a second): 0 when it was quiet within the first second.
   */
  seconds: number;
  /** False when the server was still busy after the limit (2 minutes). */
  settled: boolean;
}

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
      `--go-upstream=${PUBLIC_GOPROXY}`,
      `--ttl=${BENCH_TTL_SECONDS}`,
      `--max-stale=${BENCH_MAX_STALE_SECONDS}`,
      // Nothing written into the project in the current directory, no listener on the Docker
      // bridge (loopback only), and no request log unless asked, whatever a config file says.
      "--no-config",
      "--no-bridge",
      options.logRequests ? "--log-requests" : "--no-log-requests",
    ]);
    const child = new Deno.Command(command, {
      args,
      cwd: dataDir,
      // A clock `advanceClock` moves forward (POST /-/test/clock, token required); otherwise the
      // system clock. Added to the inherited environment.
      env: { VM_PKG_TEST_CLOCK: "1" },
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

  /** Moves the server's clock `seconds` forward: metadata ages without waiting. */
  async advanceClock(seconds: number): Promise<void> {
    const token = await readToken(this.dataDir);
    if (!token) throw new Error(`no write token in ${this.dataDir}`);
    const response = await fetch(`${this.url}/-/test/clock`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ advanceSeconds: seconds }),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`POST /-/test/clock answered ${response.status}: ${text}`);
  }

  /**
   * Waits until the work a run left behind is done: background refreshes download and re-ingest
   * documents after the client got its answers. Done when, over one second, no counter of
   * `ecosystem` moved and the process used under a tenth of a core; at most two minutes.
   */
  async waitUntilSettled(ecosystem: Ecosystem): Promise<Settling> {
    let before = await this.#activity(ecosystem);
    for (let busy = 0;; busy++) {
      const seconds = busy * SETTLE_WINDOW_MS / 1000;
      if (busy * SETTLE_WINDOW_MS >= SETTLE_TIMEOUT_MS) return { seconds, settled: false };
      await new Promise((resolve) => setTimeout(resolve, SETTLE_WINDOW_MS));
      const now = await this.#activity(ecosystem);
      const quiet = now.counters === before.counters &&
        now.cpuSeconds - before.cpuSeconds < SETTLE_CPU_SHARE * SETTLE_WINDOW_MS / 1000;
      if (quiet) return { seconds, settled: true };
      before = now;
    }
  }

  async #activity(ecosystem: Ecosystem): Promise<{ counters: string; cpuSeconds: number }> {
    const [counters, cpuSeconds] = await Promise.all([this.counters(ecosystem), this.cpuSeconds()]);
    return { counters: JSON.stringify(counters), cpuSeconds: cpuSeconds ?? 0 };
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

/** The entries of the status that are sizes of the cache, not counts of what happened. */
const GAUGES = new Set<keyof EcosystemCounters>([
  "packages",
  "cachedBytes",
  "documents",
  "privatePackages",
]);

/** Counter differences between two snapshots: what one install cost (gauges: the totals after). */
export function countersSpent(
  before: EcosystemCounters,
  after: EcosystemCounters,
): EcosystemCounters {
  const spent = {} as EcosystemCounters;
  for (const key of Object.keys(after) as (keyof EcosystemCounters)[]) {
    spent[key] = GAUGES.has(key) ? after[key] : after[key] - before[key];
  }
  return spent;
}

/**
 * The upstream requests a client waited for: every upstream request minus the background
 * refreshes no client waited for (those are included in upstreamRequests).
 */
export function criticalPathUpstreamRequests(spent: EcosystemCounters): number {
  return spent.upstreamRequests - spent.backgroundRequests;
}
