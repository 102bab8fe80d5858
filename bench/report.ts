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
import type { EcosystemCounters } from "./registry_server.ts";
import type { RequestLogSummary } from "./request_log.ts";
import type { WorkloadName } from "./workloads.ts";

export const WAYS = ["public", "cold", "warm"] as const;
export type Way = typeof WAYS[number];

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
  /** What the server counted for this run, for this client's ecosystem (cold and warm only). */
  server?: EcosystemCounters;
  /** CPU seconds the server process spent during this run (Linux only). */
  serverCpuSeconds?: number;
  /** Server-side request timings (with --log-requests only). */
  requestLog?: RequestLogSummary;
}

export interface WayResult {
  registry: string;
  runs: RunResult[];
  seconds: Summary;
}

/** One client's results: the same rounds and checks for npm, pip and cargo. */
export interface WorkloadReport {
  workload: WorkloadName;
  /** e.g. "npm install", "pip install", "cargo fetch". */
  action: string;
  /** e.g. "8 pinned direct dependencies, no lockfile". */
  input: string;
  unit: string;
  versions: Record<string, string>;
  method: Record<string, unknown> & { serverTtlSeconds: number; runsPerWay: number };
  phaseLabels: Record<string, string>;
  packages: number;
  priming: RunResult;
  ways: Record<Way, WayResult>;
  ratios: { coldOverPublic: number; warmOverPublic: number };
  checks: {
    warmSentNothingUpstream: boolean;
    sameTreeEverywhere: boolean;
    coldWithin10Percent: boolean;
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
  workloads: Partial<Record<WorkloadName, WorkloadReport>>;
}

/** True when every workload passed its correctness checks (the cold ratio is a finding). */
export function checksPassed(report: BenchReport): boolean {
  return Object.values(report.workloads).every((workload) =>
    workload.checks.warmSentNothingUpstream && workload.checks.sameTreeEverywhere
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
    `runs per way: ${report.runsPerWay}, each with empty client caches`,
    `other load: ${report.loadAverageBefore.toFixed(2)} load average at the start; ` +
    (report.otherProcessesCpu
      ? `other processes used ${formatSeconds(report.otherProcessesCpu.seconds)} CPU during ` +
        `the run (${(report.otherProcessesCpu.share * 100).toFixed(1)}% of the machine)`
      : "CPU of other processes unknown (no /proc)"),
  ];
  for (const workload of Object.values(report.workloads)) {
    lines.push("", ...workloadLines(workload));
    if (logRequests && workload.workload === "npm") lines.push("", ...requestLogLines(workload));
  }
  console.log(lines.join("\n"));
}

function workloadLines(report: WorkloadReport): string[] {
  const phaseKeys = Object.keys(report.phaseLabels);
  const wayLabels: Record<Way, string> = {
    public: `${report.ways.public.registry} directly`,
    cold: "vm pkg, fresh empty data dir",
    warm: "vm pkg, populated by an earlier run",
  };
  const versions = Object.entries(report.versions).map(([tool, version]) => `${tool} ${version}`);
  return [
    `== ${report.workload}: ${report.action} of ${report.packages} ${report.unit} ` +
    `(${report.input}); ${versions.join(", ")}`,
    table([
      [
        "way",
        "registry",
        "median",
        "min",
        "max",
        "vs public",
        ...Object.values(report.phaseLabels),
      ],
      ...WAYS.map((way) => {
        const { seconds, runs } = report.ways[way];
        return [
          way,
          wayLabels[way],
          formatSeconds(seconds.median),
          formatSeconds(seconds.min),
          formatSeconds(seconds.max),
          formatRatio(seconds.median / report.ways.public.seconds.median),
          ...phaseKeys.map((key) =>
            formatSeconds(summarize(runs.map((run) => run.phases[key])).median)
          ),
        ];
      }),
    ], 2),
    ...(phaseKeys.length > 0 ? ["(phases: medians of the client's own timings)"] : []),
    "server counters per run (median over runs):",
    table([
      [
        "way",
        "requests",
        "hits",
        "misses",
        "upstream requests",
        "upstream bytes",
        "served bytes",
        "server CPU",
      ],
      ...(["cold", "warm"] as const).map((way) => {
        const runs = report.ways[way].runs;
        const median = (pick: (c: EcosystemCounters) => number) =>
          summarize(runs.map((run) => pick(run.server!))).median;
        const cpu = summarize(runs.flatMap((run) => run.serverCpuSeconds ?? [])).median;
        return [
          way,
          String(median((c) => c.requests)),
          String(median((c) => c.cacheHits)),
          String(median((c) => c.cacheMisses)),
          String(median((c) => c.upstreamRequests)),
          formatBytes(median((c) => c.upstreamBytes)),
          formatBytes(median((c) => c.servedBytes)),
          Number.isNaN(cpu) ? "n/a" : formatSeconds(cpu),
        ];
      }),
    ]),
    `warm runs sent nothing upstream: ${yesNo(report.checks.warmSentNothingUpstream)} ` +
    `(${report.ways.warm.runs.map((run) => run.server!.upstreamRequests).join(", ")})`,
    `every run produced the same tree: ${yesNo(report.checks.sameTreeEverywhere)}`,
    ...report.treeMismatches.map((mismatch) => `  ${mismatch}`),
    `warm faster than public: ${yesNo(report.ratios.warmOverPublic < 1)} ` +
    `(${formatRatio(report.ratios.warmOverPublic)})`,
    `cold within 10% of public: ${yesNo(report.checks.coldWithin10Percent)} ` +
    `(${formatRatio(report.ratios.coldOverPublic)})`,
  ];
}

/**
 * Server-side time per request kind, median over runs, to show where a slow way loses time.
 * The request-log summary knows npm's request kinds (packuments, tarballs), so npm only.
 */
function requestLogLines(report: WorkloadReport): string[] {
  const rows = [["way", "kind", "count", "sum", "median", "p90", "max"]];
  const slowest: string[] = [];
  for (const way of ["cold", "warm"] as const) {
    const logs = report.ways[way].runs.map((run) => run.requestLog!);
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
  return [
    "npm: server time until the response starts, per install (median over runs; sum is over",
    "parallel requests, so it can exceed the install's wall time):",
    table(rows, 2),
    "slowest requests:",
    ...slowest,
  ];
}

function yesNo(value: boolean): string {
  return value ? "yes" : "NO";
}
