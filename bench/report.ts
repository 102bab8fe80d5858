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
import type { NpmPhases } from "./npm_install.ts";
import { type NpmCounters, PUBLIC_NPM } from "./registry_server.ts";
import type { RequestLogSummary } from "./request_log.ts";

export const WAYS = ["public", "cold", "warm"] as const;
export type Way = typeof WAYS[number];

const WAY_LABELS: Record<Way, string> = {
  public: `${PUBLIC_NPM}/ directly`,
  cold: "vm pkg, fresh empty data dir",
  warm: "vm pkg, populated by an earlier install",
};

export interface RunResult {
  round: number;
  seconds: number;
  phases: NpmPhases;
  packages: number;
  /** When npm ran (ms since epoch), to find this install's lines in the server log. */
  startedAt: number;
  finishedAt: number;
  /** What the server counted for this install (cold and warm only). */
  server?: NpmCounters;
  /** CPU seconds the server process spent during this install (Linux only). */
  serverCpuSeconds?: number;
  /** Server-side request timings (with --log-requests only). */
  requestLog?: RequestLogSummary;
}

export interface WayResult {
  registry: string;
  runs: RunResult[];
  seconds: Summary;
}

export interface BenchReport {
  date: string;
  command: string;
  /** The commit the server ran from, and whether src/ had uncommitted changes. */
  source: { commit: string; uncommittedChanges: boolean };
  /**
   * Other work on the machine competes with npm and the server for the same cores and makes every
   * figure noisier: the 1-minute load average at the start, and the CPU other processes used
   * during the run (Linux only).
   */
  loadAverageBefore: number;
  otherProcessesCpu: ForeignCpu | null;
  machine: Machine;
  npm: string;
  node: string;
  method: {
    dependencies: Readonly<Record<string, string>>;
    npmFlags: string[];
    lockfile: "none";
    serverTtlSeconds: number;
    runsPerWay: number;
  };
  packages: number;
  priming: RunResult;
  ways: Record<Way, WayResult>;
  ratios: { coldOverPublic: number; warmOverPublic: number };
  checks: {
    warmSentNothingUpstream: boolean;
    sameTreeEverywhere: boolean;
    coldWithin10Percent: boolean;
  };
  /** Installs whose tree differed from the first one (empty when sameTreeEverywhere). */
  treeMismatches: string[];
}

/** The human-readable report: what the README records. */
export function printReport(report: BenchReport, logRequests: boolean): void {
  const { machine } = report;
  const lines: string[] = [
    `vm pkg benchmark: npm install of ${report.packages} packages ` +
    `(${Object.keys(report.method.dependencies).length} pinned direct dependencies, no lockfile)`,
    `${report.date}  npm ${report.npm}, node ${report.node}, deno ${machine.deno}, vm at ` +
    `${report.source.commit}${report.source.uncommittedChanges ? " + uncommitted changes" : ""}`,
    `${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB, ${machine.os} ` +
    `${machine.kernel}`,
    `runs per way: ${report.method.runsPerWay}, each with an empty npm cache and no node_modules`,
    `other load: ${report.loadAverageBefore.toFixed(2)} load average at the start; ` +
    (report.otherProcessesCpu
      ? `other processes used ${formatSeconds(report.otherProcessesCpu.seconds)} CPU during ` +
        `the run (${(report.otherProcessesCpu.share * 100).toFixed(1)}% of the machine)`
      : "CPU of other processes unknown (no /proc)"),
    "",
    table([
      ["way", "registry", "median", "min", "max", "vs public", "resolve", "fetch+extract"],
      ...WAYS.map((way) => {
        const { seconds, runs } = report.ways[way];
        const phase = (pick: (phases: NpmPhases) => number) =>
          formatSeconds(summarize(runs.map((run) => pick(run.phases))).median);
        return [
          way,
          WAY_LABELS[way],
          formatSeconds(seconds.median),
          formatSeconds(seconds.min),
          formatSeconds(seconds.max),
          formatRatio(seconds.median / report.ways.public.seconds.median),
          phase((phases) => phases.resolveSeconds),
          phase((phases) => phases.fetchExtractSeconds),
        ];
      }),
    ], 2),
    "(resolve and fetch+extract: medians of npm's idealTree and reify:unpack timings)",
    "",
    "server counters per install (median over runs):",
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
        const median = (pick: (c: NpmCounters) => number) =>
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
    "",
    `warm runs sent nothing upstream: ${yesNo(report.checks.warmSentNothingUpstream)} ` +
    `(${report.ways.warm.runs.map((run) => run.server!.upstreamRequests).join(", ")})`,
    `every install produced the same tree (name, version, integrity): ` +
    yesNo(report.checks.sameTreeEverywhere),
    ...report.treeMismatches.map((mismatch) => `  ${mismatch}`),
    `warm faster than public: ${yesNo(report.ratios.warmOverPublic < 1)} ` +
    `(${formatRatio(report.ratios.warmOverPublic)})`,
    `cold within 10% of public: ${yesNo(report.checks.coldWithin10Percent)} ` +
    `(${formatRatio(report.ratios.coldOverPublic)})`,
  ];
  if (logRequests) lines.push("", ...requestLogLines(report));
  console.log(lines.join("\n"));
}

/** Server-side time per request kind, median over runs, to show where a slow way loses time. */
function requestLogLines(report: BenchReport): string[] {
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
    "server time until the response starts, per install (median over runs; sum is over",
    "parallel requests, so it can exceed the install's wall time):",
    table(rows, 2),
    "slowest requests:",
    ...slowest,
  ];
}

function yesNo(value: boolean): string {
  return value ? "yes" : "NO";
}
