// The results of a benchmark run: their shape (also the `--json` output) and the text report.
import {
  type ForeignCpu,
  formatBytes,
  formatRatio,
  formatSeconds,
  type Machine,
  summarize,
  type Summary,
  table,
} from "./figures.ts";
import {
  type Contender,
  CONTENDER_LABELS,
  type PeerName,
  type ServerContender,
  type Temperature,
  type Way,
} from "./contenders.ts";
import type { PeerTraffic } from "./peers/peer.ts";
import type { EcosystemCounters, Settling } from "./registry_server.ts";
import type { RequestLogSummary } from "./request_log.ts";
import type { WorkloadName } from "./workloads.ts";

export interface RunResult {
  round: number;
  seconds: number;
  /** The client's phase timings (npm only), keyed as in `WorkloadReport.phaseLabels`. */
  phases: Record<string, number>;
  /** How many packages, distributions or crates the run installed or fetched. */
  packages: number;
  /** When the client ran (ms since epoch), to find this run's lines in the server log. */
  startedAt: number;
  finishedAt: number;
  /** What `vm pkg` counted for this run, for this client's ecosystem (vm ways only). */
  server?: EcosystemCounters;
  /**
   * vm ways: the upstream requests the client waited for (`server.upstreamRequests` minus
   * `server.backgroundRequests`, the refreshes no client waited for).
   */
  criticalPathUpstreamRequests?: number;
  /**
   * The stale way: how long the background refreshes went on after the client finished. Its
   * counters, CPU time and peak RSS are read after that, so they include the refreshes.
   */
  background?: Settling;
  /** What a peer's log says it did during this run (peer ways only). */
  peerTraffic?: PeerTraffic;
  /** CPU seconds the server process spent during this run (Linux only). */
  serverCpuSeconds?: number;
  /** The server process's peak resident set size (VmHWM) during this run, in bytes. */
  serverPeakRssBytes?: number;
  /**
   * `run` when the peak was reset just before the run (/proc/<pid>/clear_refs), `process` when
   * the kernel refused and the peak counts from the process's start.
   */
  serverPeakRssScope?: "run" | "process";
  /** Server-side request timings (with --log-requests, vm pkg and npm only). */
  requestLog?: RequestLogSummary;
}

export interface WayResult {
  contender: Contender;
  /** Null for the public registry. */
  temperature: Temperature | null;
  /** The server: "vm pkg", "verdaccio 5.33.0", "devpi-server 6.20.3"; the registry for public. */
  server: string;
  /** What the client was given: the public registry, or the server's URL in the first run. */
  registry: string;
  runs: RunResult[];
  seconds: Summary;
  /** Median over the public way's median; null without a public way. */
  vsPublic: number | null;
  /** Median over vm pkg's median at the same temperature; null for public or without vm pkg. */
  vsVm: number | null;
  /** The highest peak RSS of the server process over the runs, bytes; null for public. */
  peakRssBytes: number | null;
}

/** One client's results: the same rounds and checks for npm, pip and cargo. */
export interface WorkloadReport {
  workload: WorkloadName;
  /** e.g. "npm install", "pip install", "cargo fetch". */
  action: string;
  /** e.g. "8 pinned direct dependencies, no lockfile". */
  input: string;
  unit: string;
  /** Client tool versions, and the version of each server that ran. */
  versions: Record<string, string>;
  method: Record<string, unknown> & {
    serverTtlSeconds: number;
    serverMaxStaleSeconds: number;
    /** How far the warm server's clock moves before each stale run. */
    staleClockStepSeconds: number;
    runsPerWay: number;
    /** How each peer was set up. */
    peers: Partial<Record<PeerName, string>>;
  };
  phaseLabels: Record<string, string>;
  packages: number;
  /** The contenders measured for this workload, public first. */
  contenders: Contender[];
  /** The unmeasured run that filled each warm server. */
  priming: Partial<Record<ServerContender, RunResult>>;
  ways: Partial<Record<Way, WayResult>>;
  /**
   * vm pkg against public, and vm pkg past the TTL against vm pkg within it (`vm-stale` median
   * over `vm-warm` median); null when either was not measured.
   */
  ratios: {
    coldOverPublic: number | null;
    warmOverPublic: number | null;
    staleOverWarm: number | null;
  };
  checks: {
    /** Every vm-warm run made 0 upstream requests (null when vm pkg was not measured). */
    warmSentNothingUpstream: boolean | null;
    /**
     * Every vm-stale run made 0 upstream requests that a client waited for: all went to
     * background refreshes (null when vm pkg was not measured).
     */
    staleNothingUpstreamOnCriticalPath: boolean | null;
    sameTreeEverywhere: boolean;
    /** vm-cold within 10% of public: a finding, not a failure (null when not measured). */
    coldWithin10Percent: boolean | null;
  };
  /** Runs whose tree differed from the first one (empty when sameTreeEverywhere). */
  treeMismatches: string[];
}

export interface BenchReport {
  date: string;
  command: string;
  /** The commit the server ran from, and whether src/ had uncommitted changes. */
  source: { commit: string; uncommittedChanges: boolean };
  /**
   * Other work on the machine competes with the clients and the server for the same cores and
   * makes every figure noisier: the 1-minute load average at the start, and the CPU other
   * processes used during the run (Linux only).
   */
  loadAverageBefore: number;
  otherProcessesCpu: ForeignCpu | null;
  machine: Machine;
  runsPerWay: number;
  /** The contenders asked for (--contenders); each workload measures those that apply to it. */
  contenders: Contender[];
  workloads: Partial<Record<WorkloadName, WorkloadReport>>;
}

/** True when every workload passed its correctness checks (the ratios are findings). */
export function checksPassed(report: BenchReport): boolean {
  return Object.values(report.workloads).every(({ checks }) =>
    checks.warmSentNothingUpstream !== false &&
    checks.staleNothingUpstreamOnCriticalPath !== false &&
    checks.sameTreeEverywhere
  );
}

/** The human-readable report: what the README records. */
export function printReport(report: BenchReport, logRequests: boolean): void {
  const { machine } = report;
  const lines: string[] = [
    `vm pkg benchmark: ${Object.keys(report.workloads).join(", ")}`,
    `${report.date}  deno ${machine.deno}, vm at ${report.source.commit}` +
    (report.source.uncommittedChanges ? " + uncommitted changes" : ""),
    `${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB, ${machine.os} ` +
    `${machine.kernel}`,
    `runs per way: ${report.runsPerWay}, each with empty client caches; ` +
    `contenders: ${report.contenders.join(", ")}`,
    `other load: ${report.loadAverageBefore.toFixed(2)} load average at the start; ` +
    (report.otherProcessesCpu
      ? `other processes used ${formatSeconds(report.otherProcessesCpu.seconds)} CPU during ` +
        `the run (${(report.otherProcessesCpu.share * 100).toFixed(1)}% of the machine)`
      : "CPU of other processes unknown (no /proc)"),
  ];
  for (const workload of Object.values(report.workloads)) {
    lines.push("", ...workloadLines(workload));
    if (logRequests && workload.workload === "npm") {
      const requestLog = requestLogLines(workload);
      if (requestLog.length > 0) lines.push("", ...requestLog);
    }
  }
  console.log(lines.join("\n"));
}

/** What each temperature means, after the server's name, in the first table. */
const TEMPERATURE_DESCRIPTIONS: Readonly<Record<Temperature, string>> = {
  cold: "fresh empty storage",
  warm: "filled by an earlier run",
  stale: "filled, every document past its TTL",
};

/** The way's description in the first table. */
function wayDescription(report: WorkloadReport, way: Way): string {
  const result = report.ways[way]!;
  if (result.temperature === null) return `${result.registry} directly`;
  return `${result.server}, ${TEMPERATURE_DESCRIPTIONS[result.temperature]}`;
}

function workloadLines(report: WorkloadReport): string[] {
  const phaseKeys = Object.keys(report.phaseLabels);
  const ways = Object.keys(report.ways) as Way[];
  const serverWays = ways.filter((way) => way !== "public");
  const versions = Object.entries(report.versions).map(([tool, version]) => `${tool} ${version}`);
  const ratio = (value: number | null) => value === null ? "-" : formatRatio(value);
  const lines = [
    `== ${report.workload}: ${report.action} of ${report.packages} ${report.unit} ` +
    `(${report.input}); ${versions.join(", ")}`,
    table([
      [
        "way",
        "server",
        "median",
        "min",
        "max",
        "vs public",
        "vs vm pkg",
        ...Object.values(report.phaseLabels),
      ],
      ...ways.map((way) => {
        const { seconds, runs, vsPublic, vsVm } = report.ways[way]!;
        return [
          way,
          wayDescription(report, way),
          formatSeconds(seconds.median),
          formatSeconds(seconds.min),
          formatSeconds(seconds.max),
          ratio(vsPublic),
          ratio(vsVm),
          ...phaseKeys.map((key) =>
            formatSeconds(summarize(runs.map((run) => run.phases[key])).median)
          ),
        ];
      }),
    ], 2),
    "(vs vm pkg: the way's median over vm pkg's median at the same temperature" +
    (phaseKeys.length > 0 ? "; phases: medians of the client's own timings)" : ")"),
  ];
  if (serverWays.length > 0) {
    lines.push(
      "servers, per run (median over runs; from vm pkg's /-/status, from a peer's own log; peak " +
        "RSS: the highest of the runs):",
      serverTable(report, serverWays),
    );
  }
  lines.push(...checkLines(report));
  return lines;
}

/** Requests, upstream traffic, CPU and peak memory of each server way; n/a where unknown. */
function serverTable(report: WorkloadReport, ways: Way[]): string {
  const rows = [[
    "way",
    "requests",
    "hits",
    "misses",
    "upstream requests",
    "in background",
    "upstream bytes",
    "served bytes",
    "server CPU",
    "peak RSS",
  ]];
  for (const way of ways) {
    const { runs, peakRssBytes } = report.ways[way]!;
    const median = (pick: (run: RunResult) => number | undefined): number | undefined => {
      const values = runs.map(pick);
      return values.some((value) => value === undefined)
        ? undefined
        : summarize(values as number[]).median;
    };
    const count = (value: number | undefined) => value === undefined ? "n/a" : String(value);
    const bytes = (value: number | undefined) => value === undefined ? "n/a" : formatBytes(value);
    const figure = (
      vm: (c: EcosystemCounters) => number,
      peer?: (t: PeerTraffic) => number | undefined,
    ) =>
      median((run) =>
        run.server ? vm(run.server) : peer && run.peerTraffic && peer(run.peerTraffic)
      );
    const cpu = median((run) => run.serverCpuSeconds);
    rows.push([
      way,
      count(figure((c) => c.requests, (t) => t.requests)),
      count(figure((c) => c.cacheHits)),
      count(figure((c) => c.cacheMisses)),
      count(figure((c) => c.upstreamRequests, (t) => t.upstreamRequests)),
      count(figure((c) => c.backgroundRequests)),
      bytes(figure((c) => c.upstreamBytes, (t) => t.upstreamBytes)),
      bytes(figure((c) => c.servedBytes, (t) => t.servedBytes)),
      cpu === undefined ? "n/a" : formatSeconds(cpu),
      peakRssBytes === null ? "n/a" : formatBytes(peakRssBytes),
    ]);
  }
  return table(rows);
}

function checkLines(report: WorkloadReport): string[] {
  const lines: string[] = [];
  const vmWarm = report.ways["vm-warm"];
  if (vmWarm && report.checks.warmSentNothingUpstream !== null) {
    lines.push(
      `vm pkg warm runs sent nothing upstream: ${yesNo(report.checks.warmSentNothingUpstream)} ` +
        `(${vmWarm.runs.map((run) => run.server!.upstreamRequests).join(", ")})`,
    );
  }
  lines.push(...staleLines(report));
  for (const contender of report.contenders) {
    if (contender === "public" || contender === "vm") continue;
    const warm = report.ways[`${contender}-warm`];
    if (!warm) continue;
    const upstream = warm.runs.map((run) => run.peerTraffic?.upstreamRequests ?? "n/a");
    lines.push(
      `${CONTENDER_LABELS[contender]} warm runs, upstream requests in its log: ` +
        upstream.join(", "),
    );
  }
  lines.push(
    `every run produced the same tree: ${yesNo(report.checks.sameTreeEverywhere)}`,
    ...report.treeMismatches.map((mismatch) => `  ${mismatch}`),
  );
  if (report.ratios.warmOverPublic !== null) {
    lines.push(
      `vm pkg warm faster than public: ${yesNo(report.ratios.warmOverPublic < 1)} ` +
        `(${formatRatio(report.ratios.warmOverPublic)})`,
    );
  }
  if (report.ratios.coldOverPublic !== null && report.checks.coldWithin10Percent !== null) {
    lines.push(
      `vm pkg cold within 10% of public: ${yesNo(report.checks.coldWithin10Percent)} ` +
        `(${formatRatio(report.ratios.coldOverPublic)})`,
    );
  }
  const rssScopes = Object.values(report.ways).flatMap((way) =>
    way!.runs.map((run) => run.serverPeakRssScope)
  );
  if (rssScopes.includes("process")) {
    lines.push("(peak RSS: the kernel did not allow a reset, so peaks count from each start)");
  }
  return lines;
}

/**
 * The stale way: no client waited for the upstream (the check), what the background refreshes
 * fetched and how long they went on, per run, and its median against the warm one's.
 */
function staleLines(report: WorkloadReport): string[] {
  const stale = report.ways["vm-stale"];
  const check = report.checks.staleNothingUpstreamOnCriticalPath;
  if (!stale || check === null) return [];
  const perRun = (describe: (run: RunResult) => string) => stale.runs.map(describe).join(", ");
  const lines = [
    "vm pkg warm runs past the TTL sent nothing upstream on the clients' critical path: " +
    `${yesNo(check)} (${perRun((run) => String(run.criticalPathUpstreamRequests))})`,
    `  background refreshes per run: ${perRun((run) => String(run.server!.backgroundRequests))}` +
    `; upstream bytes: ${perRun((run) => formatBytes(run.server!.upstreamBytes))}` +
    `; done ${perRun((run) => settlingTime(run.background))} after the client finished`,
  ];
  const warm = report.ways["vm-warm"];
  const ratio = report.ratios.staleOverWarm;
  if (warm && ratio !== null) {
    const medians = `${formatSeconds(stale.seconds.median)} against ` +
      formatSeconds(warm.seconds.median);
    lines.push(
      `vm pkg warm past the TTL against warm within it: ${formatRatio(ratio)} (median ${medians})`,
    );
  }
  return lines;
}

/** Whole seconds: the server is polled once a second. */
function settlingTime(background: Settling | undefined): string {
  if (!background) return "n/a";
  if (!background.settled) return `NOT done after ${background.seconds} s`;
  return background.seconds === 0 ? "<1 s" : `${background.seconds} s`;
}

/**
 * Server-side time per request kind, median over runs, to show where a slow way loses time.
 * The request-log summary knows `vm pkg`'s npm request kinds (packuments, tarballs), so npm only.
 */
function requestLogLines(report: WorkloadReport): string[] {
  const rows = [["way", "kind", "count", "sum", "median", "p90", "max"]];
  const slowest: string[] = [];
  for (const way of ["vm-cold", "vm-warm", "vm-stale"] as const) {
    const logs = (report.ways[way]?.runs ?? []).flatMap((run) => run.requestLog ?? []);
    if (logs.length === 0) continue;
    for (const kind of ["packuments", "tarballs"] as const) {
      const median = (pick: (s: RequestLogSummary["packuments"]) => number) =>
        summarize(logs.map((log) => pick(log[kind]))).median;
      rows.push([
        way,
        kind,
        String(median((s) => s.count)),
        formatSeconds(median((s) => s.totalSeconds)),
        `${median((s) => s.medianMs).toFixed(1)} ms`,
        `${median((s) => s.p90Ms).toFixed(1)} ms`,
        `${median((s) => s.maxMs).toFixed(0)} ms`,
      ]);
      slowest.push(`  ${way} ${kind}, first run: ${logs[0][kind].slowest.join(", ")}`);
    }
  }
  if (rows.length === 1) return [];
  return [
    "npm through vm pkg: server time until the response starts, per install (median over runs;",
    "sum is over parallel requests, so it can exceed the install's wall time):",
    table(rows, 2),
    "slowest requests:",
    ...slowest,
  ];
}

function yesNo(value: boolean): string {
  return value ? "yes" : "NO";
}
