// `deno task bench:load`: how much cached content a `vm pkg` server serves under a standard load
// generator (wrk), next to the same URLs through Verdaccio and devpi and the same bytes from nginx
// as static files. See bench/README.md for the method.
//
//   deno task bench:load [--duration S] [--connections 1,16,128] [--json]
//                        [--cases id,...] [--servers vm,nginx,verdaccio,devpi] [--warmup S]
//                        [--keep-work] [--print report.json]
import { parseArgs } from "node:util";
import { CASE_IDS, type CaseId } from "./load/cases.ts";
import { printLoadReport, SERVER_IDS, type ServerId } from "./load/report.ts";
import { type LoadOptions, runLoadBench } from "./load/run.ts";

export { printLoadReport, runLoadBench };
export type { LoadOptions };
export type { LoadPoint, LoadReport, TargetResult } from "./load/report.ts";

const USAGE = `usage: deno task bench:load [--duration S] [--connections 1,16,128] [--json]
                            [--cases ID,...] [--servers vm,nginx,verdaccio,devpi] [--warmup S]
                            [--keep-work]
  --duration S        seconds per point (default 10)
  --connections LIST  connection counts (default 1,16,128)
  --json              print the report as JSON on stdout (progress stays on stderr)
  --cases LIST        which URLs (default all): ${CASE_IDS.join(", ")}
  --servers LIST      which servers (default all; vm pkg always runs): ${SERVER_IDS.join(", ")}
  --warmup S          unmeasured wrk seconds per URL and server before its points (default 1)
  --keep-work         keep bench/.work/load-* (data dir, nginx root, logs) afterwards
  --print FILE        print the text report of a JSON report saved earlier, measure nothing`;

function list<T extends string>(value: string, allowed: readonly T[], flag: string): T[] {
  const items = value.split(",").map((item) => item.trim()).filter(Boolean);
  for (const item of items) {
    if (!allowed.includes(item as T)) {
      throw new Error(`${flag}: ${item} is not one of ${allowed.join(", ")}`);
    }
  }
  return items as T[];
}

export function parseLoadOptions(args: string[]): LoadOptions & { json: boolean } {
  const { values } = parseArgs({
    args,
    options: {
      duration: { type: "string", default: "10" },
      connections: { type: "string", default: "1,16,128" },
      json: { type: "boolean", default: false },
      cases: { type: "string" },
      servers: { type: "string" },
      warmup: { type: "string", default: "1" },
      "keep-work": { type: "boolean", default: false },
      print: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    Deno.exit(0);
  }
  if (values.print) {
    // Prints a report saved with --json, without measuring anything.
    printLoadReport(JSON.parse(Deno.readTextFileSync(values.print)));
    Deno.exit(0);
  }
  const duration = Number(values.duration);
  // wrk takes whole seconds.
  if (!Number.isInteger(duration) || duration < 1) {
    throw new Error(`--duration must be a whole number of seconds, not ${values.duration}`);
  }
  const warmup = Number(values.warmup);
  if (!Number.isInteger(warmup) || warmup < 0) {
    throw new Error(`--warmup must be a whole number of seconds, not ${values.warmup}`);
  }
  const connections = values.connections.split(",").map((item) => Number(item.trim()));
  if (connections.length === 0 || connections.some((c) => !Number.isInteger(c) || c < 1)) {
    throw new Error(`--connections must be positive integers, not ${values.connections}`);
  }
  return {
    durationSeconds: duration,
    warmupSeconds: warmup,
    connections: [...new Set(connections)],
    cases: values.cases ? list<CaseId>(values.cases, CASE_IDS, "--cases") : undefined,
    servers: values.servers ? list<ServerId>(values.servers, SERVER_IDS, "--servers") : undefined,
    keepWork: values["keep-work"],
    json: values.json,
  };
}

if (import.meta.main) {
  let options: ReturnType<typeof parseLoadOptions>;
  try {
    options = parseLoadOptions(Deno.args);
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    Deno.exit(2);
  }
  const interrupted = new AbortController();
  const onSignal = () => interrupted.abort(new Error("interrupted"));
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    const report = await runLoadBench({ ...options, signal: interrupted.signal });
    if (options.json) console.log(JSON.stringify(report, null, 2));
    else printLoadReport(report);
  } catch (error) {
    if (interrupted.signal.aborted) {
      console.error("load: interrupted; servers stopped");
      Deno.exit(130);
    }
    console.error(`load: ${(error as Error).stack ?? error}`);
    Deno.exit(1);
  }
}
