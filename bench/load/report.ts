// The load report: its shape, the issue's targets evaluated on it, and its text.
import { type Machine, table } from "../figures.ts";
import { type CaseId, CASES } from "./cases.ts";

export const SERVER_IDS = ["vm", "nginx", "verdaccio", "devpi"] as const;
export type ServerId = typeof SERVER_IDS[number];

export interface ServerInfo {
  id: ServerId;
  /** e.g. "vm pkg 0.1.0", "nginx 1.22.1 (Debian 1.22.1-9+deb12u11)", a peer's own name. */
  name: string;
  /** Why it was not measured (module missing, failed to start, not selected). */
  skipped?: string;
  /** Highest peak RSS over its load points (bytes). */
  peakRssBytes?: number;
  /** The point where that peak was reached. */
  peakAt?: { caseId: CaseId; connections: number };
  /** VmHWM while the server was warmed (its first fetches, from upstream for vm pkg), bytes. */
  warmupPeakRssBytes?: number;
  /** VmRSS after warming, right before the first load point (bytes). */
  restRssBytes?: number;
  /** How the peak was measured: VmHWM reset before each point, or 100 ms samples of VmRSS. */
  rssMethod?: "vmhwm" | "samples";
  processes?: number;
}

/** What one server answered when warmed: the bytes every load request then receives. */
export interface ServedBody {
  server: ServerId;
  status: number;
  /** "gzip" or "identity". */
  encoding: string;
  bodyBytes: number;
  contentType: string;
  /** Why this server has no points for the case. */
  skipped?: string;
}

export interface CaseReport {
  id: CaseId;
  title: string;
  headers: Record<string, string>;
  /** Size of the uncompressed document or file (bytes). */
  plainBytes?: number;
  served: ServedBody[];
}

export interface LoadPoint {
  caseId: CaseId;
  server: ServerId;
  connections: number;
  threads: number;
  requests: number;
  seconds: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Bytes read by wrk (headers and bodies) per second, in MB (10^6 bytes). */
  megabytesPerSecond: number;
  bytesPerResponse: number;
  errors: number;
  errorDetail: string;
  peakRssBytes: number;
  /** CPU the server's process tree used during the point, in % of one core. */
  serverCpuPercent: number;
  /**
   * How long the server stayed busy after wrk stopped (finishing requests wrk had given up on):
   * waited out before the next point, so it is not billed to it.
   */
  busyAfterSeconds: number;
  /** false: still busy when the wait gave up (120 s); the next point may be disturbed. */
  settled: boolean;
}

/** A point not run, and why (e.g. a lower connection count completed no request). */
export interface SkippedPoint {
  caseId: CaseId;
  server: ServerId;
  connections: number;
  reason: string;
}

export interface TargetResult {
  target: string;
  /** undefined: could not be evaluated (a server or point missing). */
  met: boolean | undefined;
  detail: string;
}

export interface LoadReport {
  startedAt: string;
  machine: Machine;
  source: { commit: string; uncommittedChanges: boolean; version: string };
  tools: { wrk: string; nginx: string };
  durationSeconds: number;
  warmupSeconds: number;
  connections: number[];
  otherLoad?: { loadAverage: number; cpuSeconds: number; share: number };
  servers: ServerInfo[];
  cases: CaseReport[];
  points: LoadPoint[];
  skippedPoints: SkippedPoint[];
  targets: TargetResult[];
}

export const SERVER_LABELS: Record<ServerId, string> = {
  vm: "vm pkg",
  nginx: "nginx",
  verdaccio: "verdaccio",
  devpi: "devpi",
};

const MB = 1e6;
const RSS_LIMIT_BYTES = 200 * MB;
const P99_LIMIT_MS = 20;
const P99_CONNECTIONS = 128;

function mb(bytes: number): string {
  return `${(bytes / MB).toFixed(1)} MB`;
}

function size(bytes: number): string {
  if (bytes < 10_000) return `${bytes} B`;
  if (bytes < MB) return `${(bytes / 1000).toFixed(1)} kB`;
  return mb(bytes);
}

function point(report: LoadReport, caseId: CaseId, server: ServerId, connections: number) {
  return report.points.find((each) =>
    each.caseId === caseId && each.server === server && each.connections === connections
  );
}

/** The highest connection count both servers were measured at for the case. */
function highestCommon(report: LoadReport, caseId: CaseId, a: ServerId, b: ServerId) {
  const counts = [...report.connections].sort((x, y) => y - x);
  return counts.find((c) => point(report, caseId, a, c) && point(report, caseId, b, c));
}

function skipReason(report: LoadReport, server: ServerId): string {
  const info = report.servers.find((each) => each.id === server);
  return info?.skipped ?? "not measured";
}

/** The issue's targets, evaluated on the measured points. */
export function evaluateTargets(report: LoadReport): TargetResult[] {
  const targets: TargetResult[] = [];

  // 1. Cached-content throughput at least 2x Verdaccio's (npm URLs, highest common concurrency).
  {
    const target = "cached-content throughput at least 2x Verdaccio's (req/s, npm URLs)";
    const parts: string[] = [];
    const ratios: number[] = [];
    for (const each of CASES.filter((c) => c.verdaccioPath)) {
      const connections = highestCommon(report, each.id, "vm", "verdaccio");
      if (connections === undefined) continue;
      const vm = point(report, each.id, "vm", connections)!;
      const peer = point(report, each.id, "verdaccio", connections)!;
      if (peer.requests > 0) {
        const ratio = vm.requestsPerSecond / peer.requestsPerSecond;
        ratios.push(ratio);
        parts.push(
          `${each.id} @${connections}: ${vm.requestsPerSecond.toFixed(0)} vs ${
            peer.requestsPerSecond.toFixed(peer.requestsPerSecond < 10 ? 1 : 0)
          } req/s = ${ratio.toFixed(1)}x`,
        );
      } else {
        // Verdaccio completed nothing in the point: below 1 request per point duration.
        const bound = vm.requestsPerSecond * peer.seconds;
        ratios.push(bound);
        parts.push(
          `${each.id} @${connections}: ${vm.requestsPerSecond.toFixed(0)} vs <${
            (1 / peer.seconds).toFixed(2)
          } req/s (no response within ${peer.seconds.toFixed(0)} s) = >${bound.toFixed(0)}x`,
        );
      }
    }
    targets.push(
      ratios.length === 0
        ? {
          target,
          met: undefined,
          detail: `not evaluated: Verdaccio ${skipReason(report, "verdaccio")}`,
        }
        : { target, met: ratios.every((r) => r >= 2), detail: parts.join("; ") },
    );
  }

  // 2. Tarball bytes/s within 2x of nginx.
  {
    const target = "tarball MB/s within 2x of nginx (vm pkg >= nginx / 2)";
    const connections = highestCommon(report, "tarball", "vm", "nginx");
    if (connections === undefined) {
      targets.push({ target, met: undefined, detail: "not evaluated: no tarball points for both" });
    } else {
      const all = [...report.connections].sort((x, y) => x - y).flatMap((c) => {
        const vm = point(report, "tarball", "vm", c);
        const nginx = point(report, "tarball", "nginx", c);
        return vm && nginx
          ? [
            `@${c}: ${vm.megabytesPerSecond.toFixed(0)} vs ${
              nginx.megabytesPerSecond.toFixed(0)
            } MB/s (${(vm.megabytesPerSecond / nginx.megabytesPerSecond).toFixed(2)}x)`,
          ]
          : [];
      });
      const vm = point(report, "tarball", "vm", connections)!;
      const nginx = point(report, "tarball", "nginx", connections)!;
      targets.push({
        target,
        met: vm.megabytesPerSecond * 2 >= nginx.megabytesPerSecond,
        detail: `${all.join("; ")} (judged at ${connections} connections)`,
      });
    }
  }

  // 3. p99 under 20 ms at 128 connections for cached metadata.
  {
    const counts = [...report.connections].sort((x, y) => y - x);
    const connections = counts.includes(P99_CONNECTIONS) ? P99_CONNECTIONS : counts[0];
    const target =
      `p99 under ${P99_LIMIT_MS} ms at ${P99_CONNECTIONS} connections for cached metadata`;
    const parts: string[] = [];
    const values: number[] = [];
    for (const each of CASES.filter((c) => c.smallMetadata)) {
      const vm = point(report, each.id, "vm", connections);
      if (!vm) continue;
      values.push(vm.p99Ms);
      parts.push(`${each.id} ${vm.p99Ms.toFixed(1)} ms`);
    }
    const note = connections === P99_CONNECTIONS
      ? ""
      : ` (at ${connections} connections: ${P99_CONNECTIONS} was not measured)`;
    targets.push(
      values.length === 0
        ? { target, met: undefined, detail: "not evaluated: no metadata points" }
        : {
          target,
          met: connections === P99_CONNECTIONS ? values.every((v) => v < P99_LIMIT_MS) : undefined,
          detail: parts.join("; ") + note,
        },
    );
  }

  // 4. Peak RSS under 200 MB during the load runs.
  {
    const target = "vm pkg peak RSS under 200 MB during the load runs";
    const vm = report.servers.find((each) => each.id === "vm");
    if (vm?.peakRssBytes === undefined) {
      targets.push({ target, met: undefined, detail: "not evaluated: no vm pkg points" });
    } else {
      const at = vm.peakAt ? ` (during ${vm.peakAt.caseId} @${vm.peakAt.connections})` : "";
      const lifetime = (vm.restRssBytes !== undefined
        ? `; ${mb(vm.restRssBytes)} at rest before the first point`
        : "") +
        (vm.warmupPeakRssBytes !== undefined
          ? `; ${mb(vm.warmupPeakRssBytes)} while warming (cold fetches, not a load run)`
          : "");
      targets.push({
        target,
        met: vm.peakRssBytes < RSS_LIMIT_BYTES,
        detail: `peak ${mb(vm.peakRssBytes)}${at}${lifetime}`,
      });
    }
  }
  return targets;
}

export function printLoadReport(report: LoadReport): void {
  const out: string[] = [];
  const m = report.machine;
  out.push("vm pkg load benchmark: cached content under wrk");
  out.push(
    `${report.startedAt}  deno ${m.deno}, vm ${report.source.version} at ${report.source.commit}${
      report.source.uncommittedChanges ? " (with uncommitted changes)" : ""
    }`,
  );
  out.push(`${m.cpus} CPUs (${m.cpuModel}), ${m.memoryGiB} GiB, ${m.os} ${m.kernel}`);
  out.push(
    `${report.tools.wrk}, ${report.tools.nginx}; ${report.durationSeconds} s per point after a ${report.warmupSeconds} s unmeasured warm-up per URL and server`,
  );
  out.push(
    `connections: ${
      report.connections.join(", ")
    } (keep-alive; wrk threads = min(connections, 2)); ` +
      "requests carry Accept-Encoding: gzip as npm, pip and cargo send it, except the " +
      '"no Accept-Encoding" case',
  );
  out.push(
    "MB = 10^6 bytes; MB/s counts everything wrk read (headers and bodies); srv CPU = the " +
      "server's CPU time during the point, in % of one core",
  );
  out.push(
    "wrk and the server share the machine's cores: the figures are what this machine does with " +
      "both, not the server alone",
  );
  if (report.otherLoad) {
    out.push(
      `other load: ${report.otherLoad.loadAverage.toFixed(2)} load average at the start; other ` +
        `processes used ${report.otherLoad.cpuSeconds.toFixed(2)} s CPU during the points (${
          (report.otherLoad.share * 100).toFixed(1)
        }% of the machine)`,
    );
  }
  out.push("");
  out.push(
    "servers (each with its default logging: vm pkg writes no per-request log, Verdaccio and " +
      "devpi log one line per request):",
  );
  for (const server of report.servers) {
    out.push(
      `  ${SERVER_LABELS[server.id].padEnd(9)}  ${
        server.skipped ? `skipped: ${server.skipped}` : server.name
      }`,
    );
  }

  for (const each of report.cases) {
    const rows: string[][] = [[
      "server",
      "conns",
      "req/s",
      "p50 ms",
      "p99 ms",
      "MB/s",
      "srv CPU",
      "errors",
    ]];
    const notes: string[] = [];
    for (const p of report.points.filter((p) => p.caseId === each.id)) {
      const none = p.requests === 0;
      rows.push([
        SERVER_LABELS[p.server],
        String(p.connections),
        none
          ? `<${(1 / p.seconds).toFixed(2)}`
          : p.requestsPerSecond.toFixed(p.requestsPerSecond < 10 ? 1 : 0),
        none ? "-" : p.p50Ms.toFixed(2),
        none ? "-" : p.p99Ms.toFixed(2),
        p.megabytesPerSecond.toFixed(1),
        `${p.serverCpuPercent.toFixed(0)}%`,
        p.errors === 0 ? "0" : `${p.errors} (${p.errorDetail})`,
      ]);
      if (none) {
        notes.push(
          `${SERVER_LABELS[p.server]} @${p.connections}: no response completed within the ${
            p.seconds.toFixed(0)
          } s point`,
        );
      }
      if (p.busyAfterSeconds >= 1 || !p.settled) {
        notes.push(
          `${SERVER_LABELS[p.server]} @${p.connections}: stayed busy ${
            p.busyAfterSeconds.toFixed(0)
          } s after wrk stopped${
            p.settled ? " (waited out before the next point)" : ", still busy when the wait gave up"
          }`,
        );
      }
    }
    for (const skip of report.skippedPoints.filter((s) => s.caseId === each.id)) {
      notes.push(`${SERVER_LABELS[skip.server]} @${skip.connections}: not run (${skip.reason})`);
    }
    out.push("");
    out.push(`== ${each.title}`);
    const served = each.served.map((body) =>
      body.skipped
        ? `${SERVER_LABELS[body.server]} skipped (${body.skipped})`
        : `${SERVER_LABELS[body.server]} ${size(body.bodyBytes)} ${body.encoding}`
    );
    out.push(
      `body per response: ${served.join("; ")}${
        each.plainBytes !== undefined ? ` (uncompressed: ${size(each.plainBytes)})` : ""
      }`,
    );
    if (rows.length > 1) out.push(table(rows, 1));
    for (const note of notes) out.push(`  ${note}`);
  }

  out.push("");
  out.push("== peak RSS of each server during its load points");
  const rssRows: string[][] = [[
    "server",
    "peak RSS",
    "during",
    "before the points",
    "warm-up peak",
    "measured as",
  ]];
  for (const server of report.servers.filter((s) => s.peakRssBytes !== undefined)) {
    rssRows.push([
      SERVER_LABELS[server.id],
      mb(server.peakRssBytes!),
      server.peakAt ? `${server.peakAt.caseId} @${server.peakAt.connections}` : "",
      server.restRssBytes !== undefined ? mb(server.restRssBytes) : "",
      server.warmupPeakRssBytes !== undefined ? mb(server.warmupPeakRssBytes) : "",
      (server.rssMethod === "vmhwm" ? "VmHWM, reset before each point" : "VmRSS every 100 ms") +
      ((server.processes ?? 1) > 1 ? `, summed over ${server.processes} processes` : ""),
    ]);
  }
  out.push(table(rssRows, 1));

  out.push("");
  out.push("== targets (issue 8)");
  for (const target of report.targets) {
    const verdict = target.met === undefined ? "n/a" : target.met ? "met" : "NOT met";
    out.push(`${verdict.padEnd(7)}  ${target.target}: ${target.detail}`);
  }
  console.log(out.join("\n"));
}
