// Reads the server's `--log-requests` lines to explain where an install's time went on the server:
// how long packument and tarball requests took until the response started (the log line is
// written when the handler returns, so streaming the body is not included).
import { quantile } from "./figures.ts";

/** `2026-11-24T01:11:21.008Z info  GET /npm/express 200 155.0ms` */
const LINE = /^(\S+Z)\s+info\s+(GET|HEAD) \/npm\/(\S+) (\d{3}) ([\d.]+)ms$/;

interface LoggedRequest {
  at: number;
  path: string;
  status: number;
  ms: number;
}

export interface KindSummary {
  count: number;
  /** Sum of the durations: with npm's parallel requests this exceeds the wall time. */
  totalSeconds: number;
  medianMs: number;
  p90Ms: number;
  maxMs: number;
  slowest: string[];
}

export interface RequestLogSummary {
  packuments: KindSummary;
  tarballs: KindSummary;
  /** Requests answered with a status other than 200 or 304. */
  failures: number;
}

/** Summarizes the requests logged between `from` and `to` (ms since epoch). */
export async function summarizeRequestLog(
  logFile: string,
  from: number,
  to: number,
): Promise<RequestLogSummary> {
  const text = await Deno.readTextFile(logFile).catch(() => "");
  const requests: LoggedRequest[] = [];
  for (const line of text.split("\n")) {
    const match = line.match(LINE);
    if (!match) continue;
    const at = Date.parse(match[1]);
    if (at < from || at > to) continue;
    requests.push({ at, path: match[3], status: Number(match[4]), ms: Number(match[5]) });
  }
  const isTarball = (request: LoggedRequest) => request.path.includes("/-/");
  return {
    packuments: summarizeKind(requests.filter((request) => !isTarball(request))),
    tarballs: summarizeKind(requests.filter(isTarball)),
    failures: requests.filter((request) => request.status !== 200 && request.status !== 304)
      .length,
  };
}

function summarizeKind(requests: LoggedRequest[]): KindSummary {
  const durations = requests.map((request) => request.ms);
  return {
    count: requests.length,
    totalSeconds: durations.reduce((sum, ms) => sum + ms, 0) / 1000,
    medianMs: quantile(durations, 0.5),
    p90Ms: quantile(durations, 0.9),
    maxMs: durations.length ? Math.max(...durations) : NaN,
    slowest: [...requests].sort((a, b) => b.ms - a.ms).slice(0, 5).map((request) =>
      `${request.path} ${request.ms.toFixed(0)}ms`
    ),
  };
}
