// `deno task bench`: how long a real `npm install` of a few hundred packages takes straight from
// the public registry, through a `vm pkg` server that starts empty (cold), and through one that
// already holds everything (warm). See bench/README.md for the method and the recorded figures.
//
//   deno task bench [--runs N] [--json] [--log-requests] [--keep-logs]
import { parseArgs } from "node:util";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  cpuSnapshot,
  describeMachine,
  foreignCpu,
  formatBytes,
  formatSeconds,
  summarize,
} from "./figures.ts";
import { DEPENDENCIES, installOnce, NPM_FLAGS, npmVersions } from "./npm_install.ts";
import { BENCH_TTL_SECONDS, BenchServer, countersSpent, PUBLIC_NPM } from "./registry_server.ts";
import { summarizeRequestLog } from "./request_log.ts";
import {
  type BenchReport,
  printReport,
  type RunResult,
  type Way,
  type WayResult,
  WAYS,
} from "./report.ts";

const REPO_ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
/** Scratch space; git, deno fmt and deno lint already ignore it. */
const WORK_ROOT = join(REPO_ROOT, "bench", ".work");
interface Options {
  runs: number;
  json: boolean;
  logRequests: boolean;
  keepLogs: boolean;
}

function parseOptions(args: string[]): Options {
  const { values } = parseArgs({
    args,
    options: {
      runs: { type: "string", default: "5" },
      json: { type: "boolean", default: false },
      "log-requests": { type: "boolean", default: false },
      "keep-logs": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(
      "usage: deno task bench [--runs N] [--json] [--log-requests] [--keep-logs]\n" +
        "  --runs N          installs per way (default 5)\n" +
        "  --json            print the results as JSON on stdout\n" +
        "  --log-requests    start the servers with --log-requests and summarize their timings\n" +
        "  --keep-logs       keep the server logs in bench/.work/ afterwards",
    );
    Deno.exit(0);
  }
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) {
    throw new Error(`--runs must be a positive integer, not ${values.runs}`);
  }
  return {
    runs,
    json: values.json,
    logRequests: values["log-requests"],
    keepLogs: values["keep-logs"],
  };
}

/** Progress goes to stderr so that `--json` output stays clean. */
function progress(message: string): void {
  console.error(`[bench] ${message}`);
}

/**
 * Everything the benchmark creates, so that an interrupted run still stops its servers and
 * removes its files.
 */
class Workspace {
  readonly servers = new Set<BenchServer>();
  /** Aborted by SIGINT/SIGTERM: kills the running npm and stops the next step from starting. */
  readonly interrupted = new AbortController();
  #counter = 0;

  constructor(readonly root: string, readonly logs: string) {}

  static async create(): Promise<Workspace> {
    const root = join(WORK_ROOT, `run-${new Date().toISOString().replace(/[:.]/g, "-")}`);
    const logs = join(root, "logs");
    await Deno.mkdir(logs, { recursive: true });
    return new Workspace(root, logs);
  }

  /** A fresh directory for one install (project, npm cache, data dir); removed after use. */
  async scratch(label: string): Promise<string> {
    this.interrupted.signal.throwIfAborted();
    const dir = join(this.root, `${++this.#counter}-${label}`);
    await Deno.mkdir(dir, { recursive: true });
    return dir;
  }

  async startServer(label: string, logRequests: boolean): Promise<BenchServer> {
    const dataDir = await this.scratch(`${label}-data`);
    const server = await BenchServer.start(dataDir, join(this.logs, `${label}.log`), {
      logRequests,
    });
    this.servers.add(server);
    return server;
  }

  async stopServer(server: BenchServer): Promise<void> {
    await server.stop();
    this.servers.delete(server);
    await remove(server.dataDir);
  }

  async close(keepLogs: boolean): Promise<void> {
    await Promise.all([...this.servers].map((server) => this.stopServer(server)));
    if (!keepLogs) {
      await remove(this.root);
      return;
    }
    for await (const entry of Deno.readDir(this.root)) {
      if (entry.name !== "logs") await remove(join(this.root, entry.name));
    }
    progress(`server logs kept in ${this.logs}`);
  }
}

async function remove(path: string): Promise<void> {
  await Deno.remove(path, { recursive: true }).catch(() => {});
}

/** The tree of the first install; every later install must match it. */
let referenceTree: string[] | undefined;
const treeMismatches: string[] = [];

function checkTree(label: string, tree: string[]): void {
  referenceTree ??= tree;
  if (tree.length !== referenceTree.length || tree.some((line, i) => line !== referenceTree![i])) {
    const theirs = new Set(tree);
    const missing = referenceTree.filter((line) => !theirs.has(line)).slice(0, 3);
    treeMismatches.push(`${label}: ${tree.length} packages; differs at ${missing.join(", ")}`);
  }
}

/** One measured install from `registry` in a fresh scratch dir. */
async function measureInstall(
  workspace: Workspace,
  registry: string,
  label: string,
  round: number,
): Promise<RunResult> {
  const dir = await workspace.scratch(label);
  try {
    const startedAt = Date.now();
    const install = await installOnce(registry, dir, workspace.interrupted.signal);
    const finishedAt = Date.now();
    checkTree(label, install.tree);
    return {
      round,
      seconds: install.seconds,
      phases: install.phases,
      packages: install.tree.length,
      startedAt,
      finishedAt,
    };
  } finally {
    await remove(dir);
  }
}

/** One install through `server`, with what the server counted in between. */
async function installThrough(
  workspace: Workspace,
  server: BenchServer,
  label: string,
  round: number,
): Promise<RunResult> {
  const before = await server.counters();
  const cpuBefore = await server.cpuSeconds();
  const result = await measureInstall(workspace, server.npmUrl, label, round);
  const cpuAfter = await server.cpuSeconds();
  return {
    ...result,
    server: countersSpent(before, await server.counters()),
    serverCpuSeconds: cpuBefore === undefined || cpuAfter === undefined
      ? undefined
      : cpuAfter - cpuBefore,
  };
}

/**
 * Reads the request log once the server has exited, when every line it wrote is in the file;
 * runs are matched to log lines by time.
 */
async function attachRequestLogs(server: BenchServer, runs: RunResult[]): Promise<void> {
  for (const run of runs) {
    run.requestLog = await summarizeRequestLog(server.logFile, run.startedAt, run.finishedAt);
  }
}

/** A cold run needs its own server on an empty data dir, started before the clock starts. */
async function installCold(
  workspace: Workspace,
  round: number,
  logRequests: boolean,
): Promise<RunResult> {
  const server = await workspace.startServer(`cold-${round}`, logRequests);
  let result: RunResult | undefined;
  try {
    result = await installThrough(workspace, server, `cold-${round}`, round);
  } finally {
    await server.stop();
    if (result && logRequests) await attachRequestLogs(server, [result]);
    await workspace.stopServer(server);
  }
  return result;
}

/** The server is run from the working tree, which may be ahead of the last commit. */
async function sourceRevision(): Promise<BenchReport["source"]> {
  const git = async (...args: string[]) => {
    const output = await new Deno.Command("git", { args, cwd: REPO_ROOT })
      .output().catch(() => undefined);
    return output?.success ? new TextDecoder().decode(output.stdout).trim() : undefined;
  };
  const commit = await git("rev-parse", "--short", "HEAD") ?? "unknown";
  const changes = await git("status", "--porcelain", "--", "src", "main.ts", "deno.json");
  return { commit, uncommittedChanges: changes === undefined || changes !== "" };
}

/** Round r runs the ways in rotated order, so no way always goes first or last. */
function orderFor(round: number): Way[] {
  return WAYS.map((_, i) => WAYS[(i + round) % WAYS.length]);
}

async function runBenchmark(options: Options, workspace: Workspace): Promise<BenchReport> {
  const date = new Date().toISOString();
  const loadBefore = Deno.loadavg()[0];
  const cpuBefore = await cpuSnapshot();
  // Read before any server starts: the servers run whatever the working tree holds at that time.
  const [machine, versions, source] = await Promise.all([
    describeMachine(),
    npmVersions(),
    sourceRevision(),
  ]);
  if (loadBefore > machine.cpus / 2) {
    const load = loadBefore.toFixed(2);
    progress(`warning: load average ${load} on ${machine.cpus} CPUs: figures will be noisy`);
  }
  const runs: Record<Way, RunResult[]> = { public: [], cold: [], warm: [] };

  // The warm server is populated by one unmeasured install. It also warms what all three ways
  // share (the upstream's own caches, the OS page cache, npm's and Deno's code caches), so the
  // first measured run of any way is not penalized for going first.
  progress(`priming the warm server (one unmeasured cold install)`);
  const warm = await workspace.startServer("warm", options.logRequests);
  const priming = await installThrough(workspace, warm, "priming", 0);
  progress(`priming: ${formatSeconds(priming.seconds)}, ${priming.packages} packages`);

  for (let round = 1; round <= options.runs; round++) {
    for (const way of orderFor(round)) {
      const result = way === "public"
        ? await measureInstall(workspace, `${PUBLIC_NPM}/`, `public-${round}`, round)
        : way === "cold"
        ? await installCold(workspace, round, options.logRequests)
        : await installThrough(workspace, warm, `warm-${round}`, round);
      runs[way].push(result);
      const upstream = result.server
        ? `, ${result.server.upstreamRequests} upstream requests, ` +
          formatBytes(result.server.upstreamBytes)
        : "";
      const seconds = formatSeconds(result.seconds);
      progress(`round ${round}/${options.runs} ${way.padEnd(6)} ${seconds}${upstream}`);
    }
  }
  await warm.stop();
  if (options.logRequests) await attachRequestLogs(warm, [priming, ...runs.warm]);
  await workspace.stopServer(warm);
  // Every child (npm, servers) has exited, so their CPU time is in our own counters now.
  const otherProcessesCpu = foreignCpu(cpuBefore, await cpuSnapshot(), machine.cpus) ?? null;

  const ways = Object.fromEntries(WAYS.map((way) => [way, {
    registry: way === "public" ? `${PUBLIC_NPM}/` : "vm pkg on 127.0.0.1",
    runs: runs[way],
    seconds: summarize(runs[way].map((run) => run.seconds)),
  }])) as Record<Way, WayResult>;
  const ratios = {
    coldOverPublic: ways.cold.seconds.median / ways.public.seconds.median,
    warmOverPublic: ways.warm.seconds.median / ways.public.seconds.median,
  };
  return {
    date,
    command: `deno task bench ${Deno.args.join(" ")}`.trim(),
    source,
    loadAverageBefore: loadBefore,
    otherProcessesCpu,
    machine,
    npm: versions.npm,
    node: versions.node,
    method: {
      dependencies: DEPENDENCIES,
      npmFlags: NPM_FLAGS,
      lockfile: "none",
      serverTtlSeconds: BENCH_TTL_SECONDS,
      runsPerWay: options.runs,
    },
    packages: priming.packages,
    priming,
    ways,
    ratios,
    checks: {
      warmSentNothingUpstream: runs.warm.every((run) => run.server?.upstreamRequests === 0),
      sameTreeEverywhere: treeMismatches.length === 0,
      coldWithin10Percent: ratios.coldOverPublic <= 1.1,
    },
    treeMismatches,
  };
}

async function main(): Promise<number> {
  const options = parseOptions(Deno.args);
  const workspace = await Workspace.create();
  // Unwinds through the normal error path, whose `finally` stops the servers and removes files.
  const interrupt = () => {
    progress("interrupted: stopping npm and the servers, removing temp files");
    workspace.interrupted.abort();
  };
  Deno.addSignalListener("SIGINT", interrupt);
  Deno.addSignalListener("SIGTERM", interrupt);
  try {
    const report = await runBenchmark(options, workspace).catch((error) => {
      if (workspace.interrupted.signal.aborted) return undefined;
      throw error;
    });
    if (!report) return 130;
    if (options.json) {
      console.log(JSON.stringify(report, null, 2));
    } else {
      printReport(report, options.logRequests);
    }
    // The cold-vs-public ratio is a finding, not a failure; the other two are correctness checks.
    return report.checks.warmSentNothingUpstream && report.checks.sameTreeEverywhere ? 0 : 1;
  } finally {
    Deno.removeSignalListener("SIGINT", interrupt);
    Deno.removeSignalListener("SIGTERM", interrupt);
    await workspace.close(options.keepLogs);
  }
}

if (import.meta.main) {
  try {
    Deno.exit(await main());
  } catch (error) {
    console.error(`bench: ${(error as Error).message}`);
    Deno.exit(1);
  }
}
