// `deno task bench`: how long real clients (`npm install`, `pip install`, `cargo fetch`) take
// straight from the public registries, through a `vm pkg` server that starts empty (cold), and
// through one that already holds everything (warm). See bench/README.md for the method and the
// recorded figures.
//
//   deno task bench [--workload npm|pip|cargo|all] [--runs N] [--json] [--log-requests]
//                   [--keep-logs]
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
import { BENCH_TTL_SECONDS, BenchServer, countersSpent } from "./registry_server.ts";
import { summarizeRequestLog } from "./request_log.ts";
import { type Workload, WORKLOAD_NAMES, type WorkloadName, WORKLOADS } from "./workloads.ts";
import {
  type BenchReport,
  checksPassed,
  printReport,
  type RunResult,
  type Way,
  type WayResult,
  WAYS,
  type WorkloadReport,
} from "./report.ts";

const REPO_ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
/** Scratch space; git, deno fmt and deno lint already ignore it. */
const WORK_ROOT = join(REPO_ROOT, "bench", ".work");
interface Options {
  runs: number;
  workloads: WorkloadName[];
  json: boolean;
  logRequests: boolean;
  keepLogs: boolean;
}

function parseOptions(args: string[]): Options {
  const { values } = parseArgs({
    args,
    options: {
      runs: { type: "string", default: "5" },
      workload: { type: "string", default: "all" },
      json: { type: "boolean", default: false },
      "log-requests": { type: "boolean", default: false },
      "keep-logs": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(
      "usage: deno task bench [--workload npm|pip|cargo|all] [--runs N] [--json] [--log-requests]\n" +
        "                       [--keep-logs]\n" +
        "  --workload W      which client to measure (default all: npm, then pip, then cargo)\n" +
        "  --runs N          runs per way and workload (default 5)\n" +
        "  --json            print the results as JSON on stdout\n" +
        "  --log-requests    start the servers with --log-requests and summarize npm's timings\n" +
        "  --keep-logs       keep the server logs in bench/.work/ afterwards",
    );
    Deno.exit(0);
  }
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) {
    throw new Error(`--runs must be a positive integer, not ${values.runs}`);
  }
  const workload = values.workload;
  const workloads = workload === "all"
    ? [...WORKLOAD_NAMES]
    : WORKLOAD_NAMES.filter((name) => name === workload);
  if (workloads.length === 0) {
    throw new Error(`--workload must be npm, pip, cargo or all, not ${workload}`);
  }
  return {
    runs,
    workloads,
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
  /** Aborted by SIGINT/SIGTERM: kills the running client and stops the next step from starting. */
  readonly interrupted = new AbortController();
  #counter = 0;

  constructor(readonly root: string, readonly logs: string) {}

  static async create(): Promise<Workspace> {
    const root = join(WORK_ROOT, `run-${new Date().toISOString().replace(/[:.]/g, "-")}`);
    const logs = join(root, "logs");
    await Deno.mkdir(logs, { recursive: true });
    return new Workspace(root, logs);
  }

  /** A fresh directory for one run (project, client caches, data dir); removed after use. */
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

/** Compares every run's tree with the first run's of the same workload. */
class TreeCheck {
  #reference: string[] | undefined;
  readonly mismatches: string[] = [];

  check(label: string, tree: string[]): void {
    const reference = this.#reference ??= tree;
    if (tree.length !== reference.length || tree.some((line, i) => line !== reference[i])) {
      const theirs = new Set(tree);
      const missing = reference.filter((line) => !theirs.has(line)).slice(0, 3);
      this.mismatches.push(`${label}: ${tree.length} entries; differs at ${missing.join(", ")}`);
    }
  }
}

/** What every run of one workload shares. */
interface Bench {
  workload: Workload;
  workspace: Workspace;
  trees: TreeCheck;
  logRequests: boolean;
}

/** One measured client run from `server` (or the public registry) in a fresh scratch dir. */
async function measureRun(
  bench: Bench,
  server: BenchServer | undefined,
  label: string,
  round: number,
): Promise<RunResult> {
  const { workload, workspace } = bench;
  const dir = await workspace.scratch(`${workload.name}-${label}`);
  try {
    const startedAt = Date.now();
    const run = await workload.run(server, dir, workspace.interrupted.signal);
    const finishedAt = Date.now();
    bench.trees.check(label, run.tree);
    return {
      round,
      seconds: run.seconds,
      phases: run.phases,
      packages: run.tree.length,
      startedAt,
      finishedAt,
    };
  } finally {
    await remove(dir);
  }
}

/** One run through `server`, with what the server counted for this ecosystem in between. */
async function runThrough(
  bench: Bench,
  server: BenchServer,
  label: string,
  round: number,
): Promise<RunResult> {
  const ecosystem = bench.workload.ecosystem;
  const before = await server.counters(ecosystem);
  const cpuBefore = await server.cpuSeconds();
  const result = await measureRun(bench, server, label, round);
  const cpuAfter = await server.cpuSeconds();
  return {
    ...result,
    server: countersSpent(before, await server.counters(ecosystem)),
    serverCpuSeconds: cpuBefore === undefined || cpuAfter === undefined
      ? undefined
      : cpuAfter - cpuBefore,
  };
}

/**
 * Reads the request log once the server has exited, when every line it wrote is in the file;
 * runs are matched to log lines by time. The summary knows npm's requests only.
 */
async function attachRequestLogs(
  bench: Bench,
  server: BenchServer,
  runs: RunResult[],
): Promise<void> {
  if (!bench.logRequests || bench.workload.name !== "npm") return;
  for (const run of runs) {
    run.requestLog = await summarizeRequestLog(server.logFile, run.startedAt, run.finishedAt);
  }
}

/** A cold run needs its own server on an empty data dir, started before the clock starts. */
async function runCold(bench: Bench, round: number): Promise<RunResult> {
  const label = `${bench.workload.name}-cold-${round}`;
  const server = await bench.workspace.startServer(label, bench.logRequests);
  let result: RunResult | undefined;
  try {
    result = await runThrough(bench, server, `cold-${round}`, round);
  } finally {
    await server.stop();
    if (result) await attachRequestLogs(bench, server, [result]);
    await bench.workspace.stopServer(server);
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

/** All rounds of one workload: priming, then `runs` rounds of public, cold and warm. */
async function runWorkload(
  workload: Workload,
  options: Options,
  workspace: Workspace,
): Promise<WorkloadReport> {
  const bench: Bench = {
    workload,
    workspace,
    trees: new TreeCheck(),
    logRequests: options.logRequests,
  };
  const versions = await workload.versions();
  const runs: Record<Way, RunResult[]> = { public: [], cold: [], warm: [] };
  const say = (message: string) => progress(`${workload.name}: ${message}`);

  // The warm server is populated by one unmeasured run. It also warms what all three ways share
  // (the upstream's own caches, the OS page cache, the client's and Deno's code caches), so the
  // first measured run of any way is not penalized for going first.
  say(`priming the warm server (one unmeasured cold ${workload.action})`);
  const warm = await workspace.startServer(`${workload.name}-warm`, options.logRequests);
  const priming = await runThrough(bench, warm, "priming", 0);
  say(`priming: ${formatSeconds(priming.seconds)}, ${priming.packages} ${workload.unit}`);

  for (let round = 1; round <= options.runs; round++) {
    for (const way of orderFor(round)) {
      const result = way === "public"
        ? await measureRun(bench, undefined, `public-${round}`, round)
        : way === "cold"
        ? await runCold(bench, round)
        : await runThrough(bench, warm, `warm-${round}`, round);
      runs[way].push(result);
      const upstream = result.server
        ? `, ${result.server.upstreamRequests} upstream requests, ` +
          formatBytes(result.server.upstreamBytes)
        : "";
      const seconds = formatSeconds(result.seconds);
      say(`round ${round}/${options.runs} ${way.padEnd(6)} ${seconds}${upstream}`);
    }
  }
  await warm.stop();
  await attachRequestLogs(bench, warm, [priming, ...runs.warm]);
  await workspace.stopServer(warm);

  const ways = Object.fromEntries(WAYS.map((way) => [way, {
    registry: way === "public" ? workload.publicRegistry : "vm pkg on 127.0.0.1",
    runs: runs[way],
    seconds: summarize(runs[way].map((run) => run.seconds)),
  }])) as Record<Way, WayResult>;
  const ratios = {
    coldOverPublic: ways.cold.seconds.median / ways.public.seconds.median,
    warmOverPublic: ways.warm.seconds.median / ways.public.seconds.median,
  };
  return {
    workload: workload.name,
    action: workload.action,
    input: workload.input,
    unit: workload.unit,
    versions,
    method: {
      ...workload.method,
      serverTtlSeconds: BENCH_TTL_SECONDS,
      runsPerWay: options.runs,
    },
    phaseLabels: { ...workload.phaseLabels },
    packages: priming.packages,
    priming,
    ways,
    ratios,
    checks: {
      warmSentNothingUpstream: runs.warm.every((run) => run.server?.upstreamRequests === 0),
      sameTreeEverywhere: bench.trees.mismatches.length === 0,
      coldWithin10Percent: ratios.coldOverPublic <= 1.1,
    },
    treeMismatches: bench.trees.mismatches,
  };
}

async function runBenchmark(options: Options, workspace: Workspace): Promise<BenchReport> {
  const date = new Date().toISOString();
  const loadBefore = Deno.loadavg()[0];
  const cpuBefore = await cpuSnapshot();
  // Read before any server starts: the servers run whatever the working tree holds at that time.
  const [machine, source] = await Promise.all([describeMachine(), sourceRevision()]);
  if (loadBefore > machine.cpus / 2) {
    const load = loadBefore.toFixed(2);
    progress(`warning: load average ${load} on ${machine.cpus} CPUs: figures will be noisy`);
  }
  const workloads: BenchReport["workloads"] = {};
  for (const name of options.workloads) {
    workloads[name] = await runWorkload(WORKLOADS[name], options, workspace);
  }
  // Every child (clients, servers) has exited, so their CPU time is in our own counters now.
  const otherProcessesCpu = foreignCpu(cpuBefore, await cpuSnapshot(), machine.cpus) ?? null;
  return {
    date,
    command: `deno task bench ${Deno.args.join(" ")}`.trim(),
    source,
    loadAverageBefore: loadBefore,
    otherProcessesCpu,
    machine,
    runsPerWay: options.runs,
    workloads,
  };
}

async function main(): Promise<number> {
  const options = parseOptions(Deno.args);
  const workspace = await Workspace.create();
  // Unwinds through the normal error path, whose `finally` stops the servers and removes files.
  const interrupt = () => {
    progress("interrupted: stopping the client and the servers, removing temp files");
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
    return checksPassed(report) ? 0 : 1;
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
