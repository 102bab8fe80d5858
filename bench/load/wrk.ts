// One wrk run against one URL: fixed connections and duration, keep-alive, the client's headers.
// A small Lua `done` callback prints the figures as one JSON line, so nothing depends on wrk's
// human-readable output.
import { join } from "node:path";

export interface WrkErrors {
  connect: number;
  read: number;
  write: number;
  /** Responses with a status of 400 or above. */
  status: number;
  timeout: number;
}

export interface WrkResult {
  requests: number;
  /** Everything read from the sockets: status lines, headers and bodies. */
  bytes: number;
  seconds: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
  errors: WrkErrors;
  threads: number;
}

const MARKER = "WRK_JSON ";
/** A request slower than this counts as a timeout error (wrk's default is 2 s). */
export const WRK_TIMEOUT_SECONDS = 30;

const DONE_SCRIPT =
  `-- Written by bench/load/wrk.ts: the summary as one JSON line (times in microseconds).
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '${MARKER}{"requests":%d,"bytes":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,' ..
    '"max_us":%d,"mean_us":%.1f,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\\n',
    summary.requests, summary.bytes, summary.duration,
    latency:percentile(50), latency:percentile(99), latency.max, latency.mean,
    e.connect, e.read, e.write, e.status, e.timeout))
end
`;

/** Writes the Lua script into `dir` once; returns its path. */
export async function writeWrkScript(dir: string): Promise<string> {
  const path = join(dir, "summary.lua");
  await Deno.writeTextFile(path, DONE_SCRIPT);
  return path;
}

export interface WrkRun {
  wrk: string;
  script: string;
  url: string;
  headers: Record<string, string>;
  connections: number;
  seconds: number;
  signal?: AbortSignal;
}

/** wrk's threads: no more than the connections, and no more than 2 (the machine's cores). */
export function wrkThreads(connections: number): number {
  return Math.max(1, Math.min(2, connections, navigator.hardwareConcurrency));
}

export async function runWrk(run: WrkRun): Promise<WrkResult> {
  const threads = wrkThreads(run.connections);
  const args = [
    `--threads=${threads}`,
    `--connections=${run.connections}`,
    `--duration=${run.seconds}s`,
    `--timeout=${WRK_TIMEOUT_SECONDS}s`,
    `--script=${run.script}`,
    ...Object.entries(run.headers).flatMap(([name, value]) => ["--header", `${name}: ${value}`]),
    run.url,
  ];
  const output = await new Deno.Command(run.wrk, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: run.signal,
  }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  const line = stdout.split("\n").find((each) => each.startsWith(MARKER));
  if (!output.success || !line) {
    const stderr = new TextDecoder().decode(output.stderr).trim();
    throw new Error(
      `wrk ${args.join(" ")} failed (exit ${output.code}):\n${stderr || stdout.trim()}`,
    );
  }
  const raw = JSON.parse(line.slice(MARKER.length));
  return {
    requests: raw.requests,
    bytes: raw.bytes,
    seconds: raw.duration_us / 1e6,
    p50Ms: raw.p50_us / 1000,
    p99Ms: raw.p99_us / 1000,
    maxMs: raw.max_us / 1000,
    meanMs: raw.mean_us / 1000,
    errors: {
      connect: raw.connect,
      read: raw.read,
      write: raw.write,
      status: raw.status,
      timeout: raw.timeout,
    },
    threads,
  };
}
