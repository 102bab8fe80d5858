// `deno task bench`: how long real clients (`npm install`, `pip install`, `cargo fetch`) take
// straight from the public registries, through `vm pkg`, and through the caching registries of
// other projects (Verdaccio for npm, devpi for PyPI), each server started empty (cold) and already
// holding everything (warm), and `vm pkg` also warm with every document past its TTL (stale). See
// bench/README.md for the method.
//
//   deno task bench [--workload npm|pip|cargo|go|all] [--runs N] [--contenders LIST] [--json]
//                   [--load S] [--log-requests] [--keep-logs]
import { parseArgs } from "node:util";
import { printLoadReport, runLoadBench } from "./load.ts";
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
import {
  BENCH_MAX_STALE_SECONDS,
  BENCH_TTL_SECONDS,
  countersSpent,
  criticalPathUpstreamRequests,
  type EcosystemCounters,
  STALE_CLOCK_STEP_SECONDS,
} from "./registry_server.ts";
import { summarizeRequestLog } from "./request_log.ts";
import { type Workload, WORKLOAD_NAMES, type WorkloadName, WORKLOADS } from "./workloads.ts";
import {
  type Contender,
  CONTENDERS,
  PEER_DESCRIPTIONS,
  type PeerName,
  preparePeer,
  type ServerContender,
  type ServerUnderTest,
  splitWay,
  startServer,
  vmCounters,
  type WarmTemperature,
  type Way,
  waysOf,
} from "./contenders.ts";
import { peakRssBytes, processCpuSeconds, resetPeakRss } from "./peers/process.ts";
import {
  type BenchReport,
  checksPassed,
  printReport,
  type RunResult,
  type WayResult,
  type WorkloadReport,
} from "./report.ts";

const REPO_ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
/** Scratch space; git, deno fmt and deno lint already ignore it. */
const WORK_ROOT = join(REPO_ROOT, "bench", ".work");
/** The peers' installed software (Verdaccio's node_modules, devpi's venv), kept between runs. */
const PEERS_DIR = join(WORK_ROOT, "peers");

interface Options {
  runs: number;
  workloads: WorkloadName[];
  contenders: Contender[];
  json: boolean;
  /** Seconds per load point after the install workloads; 0: no load bench. */
  loadSeconds: number;
  logRequests: boolean;
  keepLogs: boolean;
}

function parseOptions(args: string[]): Options {
  const { values } = parseArgs({
    args,
    options: {
      runs: { type: "string", default: "5" },
      workload: { type: "string", default: "all" },
      contenders: { type: "string", default: "all" },
      json: { type: "boolean", default: false },
      load: { type: "string", default: "10" },
      "log-requests": { type: "boolean", default: false },
      "keep-logs": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(
      "usage: deno task bench [--workload npm|pip|cargo|go|all] [--runs N] [--contenders LIST]\n" +
        "                       [--json] [--load S] [--log-requests] [--keep-logs]\n" +
        "  --workload W      which client to measure (default all: npm, pip, cargo, go)\n" +
        "  --runs N          runs per way and workload (default 5)\n" +
        "  --contenders L    comma-separated, of public, vm, verdaccio, devpi (default all); each\n" +
        "                    workload runs those that serve it (verdaccio: npm; devpi: pip).\n" +
        "                    vm is measured cold, warm, and warm past the TTL (vm-stale); the\n" +
        "                    peers cold and warm\n" +
        "  --json            print the results as JSON on stdout\n" +
        "  --load S          then the load bench (bench/load.ts), S seconds per point; 0 skips it\n" +
        "  --log-requests    start the vm pkg servers with --log-requests and summarize npm's\n" +
        "                    timings\n" +
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
    throw new Error(`--workload must be npm, pip, cargo, go or all, not ${workload}`);
  }
  const asked = values.contenders === "all"
    ? [...CONTENDERS]
    : values.contenders.split(",").map((name) => name.trim()).filter((name) => name !== "");
  const unknown = asked.filter((name) => !(CONTENDERS as readonly string[]).includes(name));
  if (unknown.length > 0 || asked.length === 0) {
    throw new Error(
      `--contenders takes a comma-separated list of ${CONTENDERS.join(", ")}, not ` +
        `${values.contenders}`,
    );
  }
  return {
    runs,
    workloads,
    // In the fixed order, whatever order they were given in.
    contenders: CONTENDERS.filter((name) => asked.includes(name)),
    json: values.json,
    loadSeconds: loadSeconds(values.load),
    logRequests: values["log-requests"],
    keepLogs: values["keep-logs"],
  };
}

function loadSeconds(text: string): number {
  const seconds = Number(text);
  if (!Number.isFinite(seconds) || seconds < 0) {
    throw new Error(`--load takes seconds per load point (0 skips it), not ${text}`);
  }
  return seconds;
}

/** The contenders that apply to `workload`: public and vm always, a peer if it serves it. */
function contendersFor(workload: Workload, asked: readonly Contender[]): Contender[] {
  return asked.filter((contender) =>
    contender === "public" || contender === "vm" ||
    workload.peers.includes(contender as PeerName)
  );
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
  readonly servers = new Set<ServerUnderTest>();
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

  /** Starts `contender` on a fresh, empty data dir, for `workload`'s client. */
  async startServer(
    contender: ServerContender,
    workload: Workload,
    label: string,
    logRequests: boolean,
  ): Promise<ServerUnderTest> {
    const dataDir = await this.scratch(`${label}-data`);
    try {
      const server = await startServer({
        contender,
        dataDir,
        logFile: join(this.logs, `${label}.log`),
        peersDir: PEERS_DIR,
        clientUrlOf: (vm) => workload.vmClientUrl(vm),
        logRequests,
      });
      this.servers.add(server);
      return server;
    } catch (error) {
      await remove(dataDir);
      throw error;
    }
  }

  async stopServer(server: ServerUnderTest): Promise<void> {
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

/** One measured client run from `registry` (undefined: the public one) in a fresh scratch dir. */
async function measureRun(
  bench: Bench,
  registry: string | undefined,
  label: string,
  round: number,
): Promise<RunResult> {
  const { workload, workspace } = bench;
  const dir = await workspace.scratch(`${workload.name}-${label}`);
  try {
    const startedAt = Date.now();
    const run = await workload.run(registry, dir, workspace.interrupted.signal);
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

/**
 * One run through `server`, with what the server did in between: vm pkg's counters for this
 * ecosystem, the server process's CPU time, and its peak RSS (reset just before the run). With
 * `awaitBackground` (vm pkg only) those are read once the work the run left behind (background
 * refreshes) is done, so they include it.
 */
async function runThrough(
  bench: Bench,
  server: ServerUnderTest,
  label: string,
  round: number,
  awaitBackground = false,
): Promise<RunResult> {
  const ecosystem = bench.workload.ecosystem;
  const before = await vmCounters(server, ecosystem);
  const cpuBefore = await processCpuSeconds(server.pid);
  const rssReset = await resetPeakRss(server.pid);
  const result = await measureRun(bench, server.clientUrl, label, round);
  const background = awaitBackground ? await server.vm?.waitUntilSettled(ecosystem) : undefined;
  const peakRss = await peakRssBytes(server.pid);
  const cpuAfter = await processCpuSeconds(server.pid);
  const after = await vmCounters(server, ecosystem);
  const spent = before && after ? countersSpent(before, after) : undefined;
  return {
    ...result,
    ...(spent
      ? { server: spent, criticalPathUpstreamRequests: criticalPathUpstreamRequests(spent) }
      : {}),
    ...(background ? { background } : {}),
    serverCpuSeconds: cpuBefore === undefined || cpuAfter === undefined
      ? undefined
      : cpuAfter - cpuBefore,
    serverPeakRssBytes: peakRss,
    serverPeakRssScope: peakRss === undefined ? undefined : rssReset ? "run" : "process",
  };
}

/**
 * Reads a stopped server's log, when every line it wrote is in the file: vm pkg's request log
 * (with --log-requests; the summary knows npm's requests only), a peer's traffic. Runs are
 * matched to log lines by time.
 */
async function attachLogs(
  bench: Bench,
  server: ServerUnderTest,
  runs: RunResult[],
): Promise<void> {
  for (const run of runs) {
    if (server.vm && bench.logRequests && bench.workload.name === "npm") {
      run.requestLog = await summarizeRequestLog(server.logFile, run.startedAt, run.finishedAt);
    }
    if (server.traffic) {
      run.peerTraffic = await server.traffic(run.startedAt, run.finishedAt);
    }
  }
}

/** A cold run needs its own server on an empty data dir, started before the clock starts. */
async function runCold(
  bench: Bench,
  contender: ServerContender,
  round: number,
): Promise<RunResult> {
  const label = `${contender}-cold-${round}`;
  const server = await bench.workspace.startServer(
    contender,
    bench.workload,
    `${bench.workload.name}-${label}`,
    bench.logRequests,
  );
  let result: RunResult | undefined;
  try {
    result = await runThrough(bench, server, label, round);
  } finally {
    await server.stop();
    if (result) await attachLogs(bench, server, [result]);
    await bench.workspace.stopServer(server);
  }
  return result;
}

/**
 * A warm run reuses the server the priming run filled. `stale`: its clock first moves a minute
 * past the metadata TTL, so every document the client asks for is answered from the cache while
 * it is refreshed upstream in the background; the figures are read once those refreshes are done.
 */
async function runWarm(
  bench: Bench,
  server: ServerUnderTest,
  temperature: WarmTemperature,
  label: string,
  round: number,
): Promise<RunResult> {
  if (temperature === "warm") return await runThrough(bench, server, label, round);
  if (!server.vm) throw new Error(`${server.name} has no clock to move past its TTL`);
  await server.vm.advanceClock(STALE_CLOCK_STEP_SECONDS);
  return await runThrough(bench, server, label, round, true);
}

/** The progress line's account of a vm pkg run's upstream traffic. */
function upstreamSummary(spent: EcosystemCounters): string {
  const background = spent.backgroundRequests > 0
    ? ` (${criticalPathUpstreamRequests(spent)} waited for, ${spent.backgroundRequests} in the ` +
      "background)"
    : "";
  return `, ${spent.upstreamRequests} upstream requests${background}, ` +
    formatBytes(spent.upstreamBytes);
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
function orderFor(round: number, ways: readonly Way[]): Way[] {
  return ways.map((_, i) => ways[(i + round) % ways.length]);
}

/**
 * All rounds of one workload: one priming run per warm server, then `runs` rounds of every way
 * (public, each server contender cold and warm, vm pkg also stale).
 */
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
  const contenders = contendersFor(workload, options.contenders);
  const serverContenders = contenders.filter((c): c is ServerContender => c !== "public");
  const ways = waysOf(contenders);
  const versions = await workload.versions();
  const runs = Object.fromEntries(ways.map((way) => [way, [] as RunResult[]])) as Partial<
    Record<Way, RunResult[]>
  >;
  const say = (message: string) => progress(`${workload.name}: ${message}`);

  // Each warm server is filled by one unmeasured run. vm pkg's goes first: it also warms what all
  // ways share (the upstream's own caches, the OS page cache, the client's and Deno's code
  // caches), so the first measured run of any way is not penalized for going first.
  const warm = new Map<ServerContender, ServerUnderTest>();
  const priming: WorkloadReport["priming"] = {};
  const serverNames: Partial<Record<ServerContender, string>> = {};
  const registries: Partial<Record<Way, string>> = { public: workload.publicRegistry };
  try {
    for (const contender of serverContenders) {
      say(`priming the warm ${contender} server (one unmeasured cold ${workload.action})`);
      const server = await workspace.startServer(
        contender,
        workload,
        `${workload.name}-${contender}-warm`,
        options.logRequests,
      );
      warm.set(contender, server);
      serverNames[contender] = server.name;
      // Every cold run gets a new port; the rest of the URL is the same.
      const url = server.clientUrl.replace(/^(http:\/\/127\.0\.0\.1):\d+/, "$1:PORT");
      for (const way of waysOf([contender])) registries[way] = url;
      priming[contender] = await runThrough(bench, server, `${contender}-priming`, 0);
      say(
        `priming ${contender}: ${formatSeconds(priming[contender].seconds)}, ` +
          `${priming[contender].packages} ${workload.unit}`,
      );
    }

    for (let round = 1; round <= options.runs; round++) {
      for (const way of orderFor(round, ways)) {
        const { contender, temperature } = splitWay(way);
        let result: RunResult;
        if (contender === "public") {
          result = await measureRun(bench, undefined, `public-${round}`, round);
        } else if (temperature === "cold") {
          result = await runCold(bench, contender, round);
        } else {
          const server = warm.get(contender)!;
          result = await runWarm(bench, server, temperature!, `${way}-${round}`, round);
        }
        runs[way]!.push(result);
        const upstream = result.server ? upstreamSummary(result.server) : "";
        const seconds = formatSeconds(result.seconds);
        say(`round ${round}/${options.runs} ${way.padEnd(14)} ${seconds}${upstream}`);
      }
    }
  } finally {
    for (const [contender, server] of warm) {
      await server.stop();
      const primingRun = priming[contender];
      const warmRuns = waysOf([contender]).filter((way) => way !== `${contender}-cold`)
        .flatMap((way) => runs[way] ?? []);
      await attachLogs(bench, server, [...(primingRun ? [primingRun] : []), ...warmRuns]);
      await workspace.stopServer(server);
    }
  }

  const median = (way: Way) => runs[way] ? summarize(runs[way].map((r) => r.seconds)).median : NaN;
  const ratio = (numerator: number, denominator: number) =>
    Number.isFinite(numerator) && Number.isFinite(denominator) ? numerator / denominator : null;
  const wayResults: WorkloadReport["ways"] = {};
  for (const way of ways) {
    const { contender, temperature } = splitWay(way);
    const wayRuns = runs[way]!;
    const peaks = wayRuns.flatMap((run) => run.serverPeakRssBytes ?? []);
    wayResults[way] = {
      contender,
      temperature,
      server: contender === "public" ? workload.publicRegistry : serverNames[contender] ??
        contender,
      registry: registries[way] ?? `${contender} on 127.0.0.1`,
      runs: wayRuns,
      seconds: summarize(wayRuns.map((run) => run.seconds)),
      vsPublic: ratio(median(way), median("public")),
      vsVm: temperature === null ? null : ratio(median(way), median(`vm-${temperature}`)),
      peakRssBytes: peaks.length > 0 ? Math.max(...peaks) : null,
    } satisfies WayResult;
  }
  for (const contender of serverContenders) {
    const name = serverNames[contender];
    if (contender !== "vm" && name) {
      // "verdaccio 5.33.0" -> { verdaccio: "5.33.0" }
      const [tool, version] = name.split(" ");
      versions[tool] = version ?? "unknown";
    }
  }
  const coldOverPublic = ratio(median("vm-cold"), median("public"));
  const warmOverPublic = ratio(median("vm-warm"), median("public"));
  const staleOverWarm = ratio(median("vm-stale"), median("vm-warm"));
  const vmWarmRuns = runs["vm-warm"];
  const vmStaleRuns = runs["vm-stale"];
  const primingRuns = Object.values(priming);
  return {
    workload: workload.name,
    action: workload.action,
    input: workload.input,
    unit: workload.unit,
    versions,
    method: {
      ...workload.method,
      serverTtlSeconds: BENCH_TTL_SECONDS,
      serverMaxStaleSeconds: BENCH_MAX_STALE_SECONDS,
      staleClockStepSeconds: STALE_CLOCK_STEP_SECONDS,
      runsPerWay: options.runs,
      peers: Object.fromEntries(
        serverContenders.filter((c): c is PeerName => c !== "vm")
          .map((peer) => [peer, PEER_DESCRIPTIONS[peer]]),
      ),
    },
    phaseLabels: { ...workload.phaseLabels },
    packages: primingRuns[0]?.packages ?? runs[ways[0]]?.[0]?.packages ?? 0,
    contenders,
    priming,
    ways: wayResults,
    ratios: { coldOverPublic, warmOverPublic, staleOverWarm },
    checks: {
      warmSentNothingUpstream: vmWarmRuns
        ? vmWarmRuns.every((run) => run.server?.upstreamRequests === 0)
        : null,
      staleNothingUpstreamOnCriticalPath: vmStaleRuns
        ? vmStaleRuns.every((run) => run.criticalPathUpstreamRequests === 0)
        : null,
      sameTreeEverywhere: bench.trees.mismatches.length === 0,
      coldWithin10Percent: coldOverPublic === null ? null : coldOverPublic <= 1.1,
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
  // Install the peers' software first (once per machine; later runs reuse it), so that a peer
  // that cannot be installed stops the benchmark before it has spent time on the workloads.
  const peers = new Set(
    options.workloads.flatMap((name) =>
      contendersFor(WORKLOADS[name], options.contenders)
        .filter((c): c is PeerName => c !== "public" && c !== "vm")
    ),
  );
  for (const peer of peers) {
    progress(`preparing ${peer} (installed into ${join(PEERS_DIR, peer)} on first use)`);
    await preparePeer(peer, PEERS_DIR);
  }
  const workloads: BenchReport["workloads"] = {};
  for (const name of options.workloads) {
    if (contendersFor(WORKLOADS[name], options.contenders).length === 0) {
      progress(`${name}: none of the contenders ${options.contenders.join(", ")} serves it`);
      continue;
    }
    workloads[name] = await runWorkload(WORKLOADS[name], options, workspace);
  }
  if (Object.keys(workloads).length === 0) {
    throw new Error(
      `nothing to measure: no workload is served by ${options.contenders.join(", ")}`,
    );
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
    contenders: options.contenders,
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
    // One command reproduces every table: the load bench on cached content follows.
    const load = options.loadSeconds > 0
      ? await runLoadBench({
        durationSeconds: options.loadSeconds,
        connections: [1, 16, 128],
        signal: workspace.interrupted.signal,
        log: progress,
      })
      : undefined;
    if (options.json) {
      console.log(JSON.stringify({ ...report, load }, null, 2));
    } else {
      printReport(report, options.logRequests);
      if (load) printLoadReport(load);
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
