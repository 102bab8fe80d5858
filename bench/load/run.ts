// The load bench: warm every server on the same URLs, then one wrk run per URL, server and
// connection count, watching the server's memory and CPU meanwhile.
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { cpuSnapshot, describeMachine } from "../figures.ts";
import { VERSION } from "../../src/version.ts";
import type { RunningPeer } from "../peers/peer.ts";
import { type CaseId, CASES, type LoadCase } from "./cases.ts";
import { type RunningNginx, startNginx, type StaticFile } from "./nginx.ts";
import { loadPeer, type PeerName } from "./peers.ts";
import { processTree, treeCpuSeconds, treeMemory, waitUntilIdle, watchMemory } from "./proc.ts";
import { rawGet, type RawResponse } from "./raw_get.ts";
import {
  type CaseReport,
  evaluateTargets,
  type LoadPoint,
  type LoadReport,
  type ServedBody,
  SERVER_IDS,
  SERVER_LABELS,
  type ServerId,
  type ServerInfo,
  type SkippedPoint,
} from "./report.ts";
import { ensureTools } from "./tools.ts";
import { runWrk, writeWrkScript, wrkThreads } from "./wrk.ts";
import { BenchServer } from "../registry_server.ts";

const REPO_ROOT = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
/** Scratch space; git, deno fmt and deno lint already ignore it. */
const WORK_ROOT = join(REPO_ROOT, "bench", ".work");
/** How long the warm-up waits for the background gzip copy of a document to appear. */
const SETTLE_TRIES = 40;
const SETTLE_PAUSE_MS = 250;

export interface LoadOptions {
  /** Seconds per point (wrk's --duration). */
  durationSeconds: number;
  connections: number[];
  cases?: CaseId[];
  servers?: ServerId[];
  /** An unmeasured wrk run per URL and server before its points. */
  warmupSeconds?: number;
  /** Keep bench/.work/load-* (data dir, nginx root and logs) afterwards. */
  keepWork?: boolean;
  signal?: AbortSignal;
  /** Progress lines (stderr by default). */
  log?: (line: string) => void;
}

/** A server under load: where its URLs are and which process tree is its. */
interface Target {
  id: ServerId;
  pid: number;
  /** The URL of a case on this server, or undefined when it does not serve it. */
  urlFor(each: LoadCase): string | undefined;
  stop(): Promise<void>;
}

async function sourceRevision(): Promise<LoadReport["source"]> {
  const git = async (...args: string[]) => {
    const output = await new Deno.Command("git", { args, cwd: REPO_ROOT, stderr: "null" })
      .output().catch(() => undefined);
    return output?.success ? new TextDecoder().decode(output.stdout).trim() : undefined;
  };
  const commit = await git("rev-parse", "--short", "HEAD") ?? "unknown";
  const changes = await git("status", "--porcelain", "--", "src", "main.ts", "deno.json");
  return { commit, uncommittedChanges: changes === undefined || changes !== "", version: VERSION };
}

function freeLoopbackPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

async function gunzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(
    new DecompressionStream("gzip"),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

const encodingOf = (response: RawResponse) =>
  (response.headers.get("content-encoding") ?? "identity").toLowerCase();

/**
 * Fetches a URL until the server answers it the way every later request will be answered: for a
 * document asked with Accept-Encoding: gzip, until the background gzip copy is served. Then once
 * more, so the bytes taken are from the settled state.
 */
async function warm(url: string, each: LoadCase, settleGzip: boolean): Promise<RawResponse> {
  let response = await rawGet(url, each.headers);
  const wantsGzip = settleGzip && each.document && each.headers["accept-encoding"] === "gzip";
  for (let i = 0; wantsGzip && response.status === 200 && i < SETTLE_TRIES; i++) {
    if (encodingOf(response) === "gzip") break;
    await new Promise((resolve) => setTimeout(resolve, SETTLE_PAUSE_MS));
    response = await rawGet(url, each.headers);
  }
  if (response.status !== 200) return response;
  return await rawGet(url, each.headers);
}

function servedBody(server: ServerId, response: RawResponse): ServedBody {
  return {
    server,
    status: response.status,
    encoding: encodingOf(response),
    bodyBytes: response.body.byteLength,
    contentType: response.headers.get("content-type") ?? "",
    ...(response.status === 200 ? {} : { skipped: `answered ${response.status} when warmed` }),
  };
}

export async function runLoadBench(options: LoadOptions): Promise<LoadReport> {
  const log = options.log ?? ((line: string) => console.error(line));
  const signal = options.signal;
  const warmupSeconds = options.warmupSeconds ?? 1;
  const cases = CASES.filter((each) => !options.cases || options.cases.includes(each.id));
  const wanted = new Set(options.servers ?? SERVER_IDS);
  wanted.add("vm"); // every other server serves what vm pkg served, warmed through it
  const connections = [...options.connections].sort((a, b) => a - b);
  const startedAt = new Date().toISOString();
  const machine = await describeMachine();
  const source = await sourceRevision();
  const tools = await ensureTools(log);
  log(`load: ${tools.wrkVersion}, ${tools.nginxVersion}`);

  const workDir = join(WORK_ROOT, `load-${startedAt.replace(/[:.]/g, "-")}`);
  await Deno.mkdir(workDir, { recursive: true });
  const script = await writeWrkScript(workDir);
  const servers = new Map<ServerId, ServerInfo>();
  const caseReports = new Map<CaseId, CaseReport>(
    cases.map((
      each,
    ) => [each.id, { id: each.id, title: each.title, headers: each.headers, served: [] }]),
  );
  const targets: Target[] = [];
  const points: LoadPoint[] = [];
  const skipped: SkippedPoint[] = [];
  let otherLoad: LoadReport["otherLoad"];

  try {
    // vm pkg: fill the cache, let the background work settle, take the served bytes.
    log("load: starting vm pkg and warming it (first fetches go upstream)");
    // The same server process the install workloads use (public upstreams, long TTL, no log).
    const vmData = join(workDir, "vm-data");
    await Deno.mkdir(vmData, { recursive: true });
    const vm = await BenchServer.start(vmData, join(workDir, "vm-server.log"), {
      logRequests: false,
    });
    targets.push({
      id: "vm",
      pid: vm.pid,
      urlFor: (each) => vm.url + each.vmPath,
      stop: () => vm.stop(),
    });
    servers.set("vm", { id: "vm", name: `vm pkg ${source.version} (pid ${vm.pid})` });
    const files = new Map<string, StaticFile>();
    for (const each of cases) {
      signal?.throwIfAborted();
      const started = performance.now();
      const response = await warm(vm.url + each.vmPath, each, true);
      const body = servedBody("vm", response);
      caseReports.get(each.id)!.served.push(body);
      if (response.status !== 200) {
        throw new Error(
          `vm pkg answered ${response.status} for ${each.vmPath}: ${
            new TextDecoder().decode(response.body.slice(0, 300))
          }`,
        );
      }
      // The uncompressed bytes, for nginx's plain copy and the size in the report.
      let plain = response.body;
      let gzip: Uint8Array | undefined;
      if (body.encoding === "gzip") {
        gzip = response.body;
        const { "accept-encoding": _, ...identity } = each.headers;
        const plainResponse = await rawGet(vm.url + each.vmPath, identity);
        plain = plainResponse.body;
        if (!sameBytes(await gunzip(gzip), plain)) {
          log(`load: warning: the gzip and plain bodies of ${each.vmPath} differ`);
        }
      } else if (body.encoding !== "identity") {
        throw new Error(`vm pkg sent ${body.encoding} for ${each.vmPath}; expected gzip or none`);
      }
      caseReports.get(each.id)!.plainBytes = plain.byteLength;
      const existing = files.get(each.staticFile);
      files.set(each.staticFile, {
        name: each.staticFile,
        contentType: body.contentType || "application/octet-stream",
        plain,
        gzip: gzip ?? existing?.gzip,
      });
      log(
        `load: vm pkg ${each.vmPath}: ${body.bodyBytes} bytes ${body.encoding} ` +
          `(${plain.byteLength} uncompressed), warmed in ${
            ((performance.now() - started) / 1000).toFixed(1)
          } s`,
      );
    }

    // nginx: the same bytes as static files.
    if (wanted.has("nginx")) {
      const nginxDir = join(workDir, "nginx");
      await Deno.mkdir(nginxDir, { recursive: true });
      const nginx: RunningNginx = await startNginx(
        tools.nginx,
        nginxDir,
        freeLoopbackPort(),
        [...files.values()],
      );
      targets.push({
        id: "nginx",
        pid: nginx.pid,
        urlFor: (each) => `${nginx.url}/${each.staticFile}`,
        stop: nginx.stop,
      });
      servers.set("nginx", {
        id: "nginx",
        name: `${tools.nginxVersion}, static files (sendfile, gzip_static) (pid ${nginx.pid})`,
      });
      for (const each of cases) {
        const response = await rawGet(`${nginx.url}/${each.staticFile}`, each.headers);
        caseReports.get(each.id)!.served.push(servedBody("nginx", response));
        const vmBody = caseReports.get(each.id)!.served.find((body) => body.server === "vm")!;
        if (
          response.body.byteLength !== vmBody.bodyBytes || encodingOf(response) !== vmBody.encoding
        ) {
          log(`load: warning: nginx serves ${each.staticFile} differently from vm pkg`);
        }
      }
    } else {
      servers.set("nginx", { id: "nginx", name: "nginx", skipped: "not selected (--servers)" });
    }

    // The peers, when their modules exist: started fresh, warmed through their own URLs.
    for (const peer of ["verdaccio", "devpi"] as const satisfies readonly PeerName[]) {
      const peerCases = cases.filter((each) =>
        peer === "verdaccio" ? each.verdaccioPath : each.devpiPath
      );
      if (!wanted.has(peer)) {
        servers.set(peer, { id: peer, name: peer, skipped: "not selected (--servers)" });
        continue;
      }
      if (peerCases.length === 0) {
        servers.set(peer, { id: peer, name: peer, skipped: "none of the selected URLs is its" });
        continue;
      }
      const start = await loadPeer(peer);
      if (typeof start !== "function") {
        servers.set(peer, { id: peer, name: peer, skipped: start.missing });
        log(`load: ${peer} skipped: ${start.missing}`);
        continue;
      }
      signal?.throwIfAborted();
      log(`load: starting ${peer} and warming it`);
      let running: RunningPeer;
      try {
        // The software is shared with the other benchmarks (bench/.work/peers/<name>); storage,
        // config and log are this run's own, so a peer another benchmark runs is not touched.
        running = await start({
          workDir: join(WORK_ROOT, "peers", peer),
          dataDir: join(workDir, `${peer}-data`),
          logFile: join(workDir, `${peer}-server.log`),
          port: freeLoopbackPort(),
          fresh: true,
        });
      } catch (error) {
        const reason = `failed to start: ${(error as Error).message.split("\n")[0]}`;
        servers.set(peer, { id: peer, name: peer, skipped: reason });
        log(`load: ${peer} ${reason}`);
        continue;
      }
      const base = running.clientUrl.endsWith("/") ? running.clientUrl : `${running.clientUrl}/`;
      const serves = new Set<CaseId>();
      for (const each of peerCases) {
        const url =
          new URL((peer === "verdaccio" ? each.verdaccioPath : each.devpiPath)!, base).href;
        try {
          const started = performance.now();
          const response = await warm(url, each, false);
          const body = servedBody(peer, response);
          caseReports.get(each.id)!.served.push(body);
          if (response.status === 200) serves.add(each.id);
          log(
            `load: ${peer} ${new URL(url).pathname}: ${response.status}, ${body.bodyBytes} bytes ` +
              `${body.encoding}, warmed in ${((performance.now() - started) / 1000).toFixed(1)} s`,
          );
        } catch (error) {
          caseReports.get(each.id)!.served.push({
            server: peer,
            status: 0,
            encoding: "",
            bodyBytes: 0,
            contentType: "",
            skipped: `warming failed: ${(error as Error).message.split("\n")[0]}`,
          });
        }
      }
      targets.push({
        id: peer,
        pid: running.pid,
        urlFor: (each) =>
          serves.has(each.id)
            ? new URL((peer === "verdaccio" ? each.verdaccioPath : each.devpiPath)!, base).href
            : undefined,
        stop: () => running.stop(),
      });
      servers.set(peer, { id: peer, name: `${running.name} (pid ${running.pid})` });
    }

    /** One point: wrk for the duration, memory and CPU meanwhile, then wait until idle. */
    const measurePoint = async (
      target: Target,
      each: LoadCase,
      url: string,
      count: number,
    ): Promise<LoadPoint> => {
      const memory = await watchMemory(target.pid);
      const cpuStart = await treeCpuSeconds(target.pid);
      let result;
      try {
        result = await runWrk({
          wrk: tools.wrk,
          script,
          url,
          headers: each.headers,
          connections: count,
          seconds: options.durationSeconds,
          signal,
        });
      } catch (error) {
        await memory.stop().catch(() => {});
        throw error;
      }
      const cpu = (await treeCpuSeconds(target.pid)) - cpuStart;
      const peak = await memory.stop();
      servers.get(target.id)!.rssMethod = peak.fromHwm ? "vmhwm" : "samples";
      const idle = await waitUntilIdle(target.pid);
      const errors = Object.values(result.errors).reduce((sum, n) => sum + n, 0);
      return {
        caseId: each.id,
        server: target.id,
        connections: count,
        threads: wrkThreads(count),
        requests: result.requests,
        seconds: result.seconds,
        requestsPerSecond: result.requests / result.seconds,
        p50Ms: result.p50Ms,
        p99Ms: result.p99Ms,
        maxMs: result.maxMs,
        megabytesPerSecond: result.bytes / result.seconds / 1e6,
        bytesPerResponse: result.requests > 0 ? result.bytes / result.requests : 0,
        errors,
        errorDetail: Object.entries(result.errors).filter(([, n]) => n > 0)
          .map(([kind, n]) => `${kind} ${n}`).join(", "),
        peakRssBytes: peak.peakBytes,
        serverCpuPercent: cpu / result.seconds * 100,
        busyAfterSeconds: idle.busySeconds,
        settled: idle.settled,
      };
    };

    // The peak while warming (the first fetches, upstream), before the points reset VmHWM.
    for (const target of targets) {
      const memory = await treeMemory(target.pid);
      servers.get(target.id)!.warmupPeakRssBytes = memory.hwm;
      servers.get(target.id)!.restRssBytes = memory.rss;
    }

    // The points.
    const loadAverage = Deno.loadavg()[0];
    const cpuBefore = await cpuSnapshot();
    const serverCpuBefore = await Promise.all(targets.map((t) => treeCpuSeconds(t.pid)));
    for (const each of cases) {
      for (const target of targets) {
        const url = target.urlFor(each);
        if (!url) continue;
        const label = SERVER_LABELS[target.id];
        if (warmupSeconds > 0) {
          // One connection: enough to warm code paths and caches without leaving a backlog of
          // slow requests (a large packument through Verdaccio takes seconds each).
          signal?.throwIfAborted();
          await runWrk({
            wrk: tools.wrk,
            script,
            url,
            headers: each.headers,
            connections: 1,
            seconds: warmupSeconds,
            signal,
          });
          await waitUntilIdle(target.pid);
        }
        let skipRest: string | undefined;
        for (const count of connections) {
          signal?.throwIfAborted();
          if (skipRest) {
            skipped.push({
              caseId: each.id,
              server: target.id,
              connections: count,
              reason: skipRest,
            });
            continue;
          }
          const p = await measurePoint(target, each, url, count);
          points.push(p);
          const info = servers.get(target.id)!;
          if (info.peakRssBytes === undefined || p.peakRssBytes > info.peakRssBytes) {
            info.peakRssBytes = p.peakRssBytes;
            info.peakAt = { caseId: each.id, connections: count };
          }
          log(
            `load: ${each.id} ${label} c=${count}: ${p.requestsPerSecond.toFixed(0)} req/s, ` +
              `p50 ${p.p50Ms.toFixed(2)} ms, p99 ${p.p99Ms.toFixed(2)} ms, ` +
              `${p.megabytesPerSecond.toFixed(1)} MB/s, RSS ${
                (p.peakRssBytes / 1e6).toFixed(0)
              } MB, ` +
              `CPU ${p.serverCpuPercent.toFixed(0)}%` +
              (p.errors ? `, ${p.errors} errors (${p.errorDetail})` : "") +
              (p.busyAfterSeconds >= 1 ? `, busy ${p.busyAfterSeconds.toFixed(0)} s after` : ""),
          );
          if (p.requests === 0) {
            // More connections would only queue more of the same slow requests.
            skipRest = `no response completed within ${options.durationSeconds} s at ${count} ` +
              `connection${count === 1 ? "" : "s"}`;
          }
        }
      }
    }
    const cpuAfter = await cpuSnapshot();
    const serverCpuAfter = await Promise.all(targets.map((t) => treeCpuSeconds(t.pid)));
    if (cpuBefore && cpuAfter) {
      // Machine busy time minus this process, its reaped children (wrk) and the servers.
      const servers = serverCpuAfter.reduce((sum, n, i) => sum + n - serverCpuBefore[i], 0);
      const seconds = Math.max(
        0,
        cpuAfter.machineBusy - cpuBefore.machineBusy -
          (cpuAfter.ownAndChildren - cpuBefore.ownAndChildren) - servers,
      );
      const available = (cpuAfter.at - cpuBefore.at) / 1000 * machine.cpus;
      otherLoad = {
        loadAverage,
        cpuSeconds: seconds,
        share: available > 0 ? seconds / available : 0,
      };
    }
    for (const target of targets) {
      servers.get(target.id)!.processes = (await processTree(target.pid)).length;
    }
  } finally {
    for (const target of targets.reverse()) {
      await target.stop().catch((error) => log(`load: stopping ${target.id}: ${error.message}`));
    }
    if (!options.keepWork) await Deno.remove(workDir, { recursive: true }).catch(() => {});
    else log(`load: kept ${workDir}`);
  }

  const report: LoadReport = {
    startedAt,
    machine,
    source,
    tools: { wrk: tools.wrkVersion, nginx: tools.nginxVersion },
    durationSeconds: options.durationSeconds,
    warmupSeconds,
    connections,
    otherLoad,
    servers: SERVER_IDS.filter((id) => servers.has(id)).map((id) => servers.get(id)!),
    cases: [...caseReports.values()],
    points,
    skippedPoints: skipped,
    targets: [],
  };
  report.targets = evaluateTargets(report);
  return report;
}
