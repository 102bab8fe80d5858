// Runs the real `vm pkg` server from source as a separate process, the way a user starts it
// (`vm pkg start --foreground`), on 127.0.0.1 only, and reads its counters over HTTP.
import type { RegistryStatus } from "../src/registry/server.ts";
import { selfCommand } from "../src/daemon/self_command.ts";

export const PUBLIC_NPM = "https://registry.npmjs.org";
/** The public upstreams, by their normal names (the network rule), given explicitly to the server. */
export const PUBLIC_PYPI_INDEX = "https://pypi.org/simple";
export const PUBLIC_PYPI_FILES = "https://files.pythonhosted.org";
export const PUBLIC_CARGO_INDEX = "https://index.crates.io";
export const PUBLIC_CARGO_FILES = "https://static.crates.io/crates";
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;
/** USER_HZ, which Linux fixes at 100 for /proc on every architecture Deno runs on. */
const CLOCK_TICKS_PER_SECOND = 100;

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
      ...(options.logRequests ? ["--log-requests"] : []),
    ]);
    const child = new Deno.Command(command, {
      args,
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
  async cpuSeconds(): Promise<number | undefined> {
    try {
      const stat = await Deno.readTextFile(`/proc/${this.child.pid}/stat`);
      // Fields after the parenthesized command name; utime and stime are the 12th and 13th.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
    } catch {
      return undefined;
    }
  }

  /** SIGTERM (the server drains in-flight downloads), SIGKILL if it takes too long. */
  async stop(): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), STOP_TIMEOUT_MS);
    });
    try {
      this.child.kill("SIGTERM");
      if (await Promise.race([this.child.status, timedOut]) === "timeout") {
        this.child.kill("SIGKILL");
        await this.child.status;
      }
    } catch {
      // Already exited.
    } finally {
      clearTimeout(timer);
    }
    await this.logWritten;
  }

  async #logTail(): Promise<string> {
    await this.logWritten.catch(() => {});
    const text = await Deno.readTextFile(this.logFile).catch(() => "");
    return text.trim().split("\n").slice(-10).join("\n");
  }
}

/**
 * Copies the child's stdout and stderr into one log file as they arrive, so the log can be read
 * while the server runs. (Writes through `file.writable` only reached the file at close.)
 */
async function copyOutput(child: Deno.ChildProcess, logFile: string): Promise<void> {
  const file = await Deno.open(logFile, { write: true, create: true, truncate: true });
  // One chain of writes for both streams: each chunk is written whole, in arrival order.
  let written = Promise.resolve();
  const writeAll = async (chunk: Uint8Array) => {
    for (let offset = 0; offset < chunk.byteLength;) {
      offset += await file.write(chunk.subarray(offset));
    }
  };
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) await (written = written.then(() => writeAll(chunk)));
  };
  try {
    await Promise.all([pump(child.stdout), pump(child.stderr)]);
  } finally {
    await written.catch(() => {});
    file.close();
  }
}

/** A loopback port that was free a moment ago (the server binds it right after). */
function freeLoopbackPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
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
