// Verdaccio as a caching proxy of registry.npmjs.org: the npm peer of `vm pkg`.
//
// Verdaccio 6 needs Node 22; this machine has Node 20, so 5.33.0 (the last 5.x). Its dependency
// tree asks for `node-fetch@cjs`, a dist-tag the npm mirror here does not serve (it serves only
// `latest`), hence the override to the version that tag names.
import { join } from "node:path";
import type { PeerOptions, PeerTraffic, RunningPeer } from "./peer.ts";
import { LoggedProcess, removeTree, runSetup } from "./process.ts";

export const VERDACCIO_VERSION = "5.33.0";
const NPM_REGISTRY = "https://registry.npmjs.org/";
const START_TIMEOUT_MS = 60_000;

/** How the peer is set up, for the report. */
export const VERDACCIO_DESCRIPTION = `verdaccio ${VERDACCIO_VERSION} under the machine's node, ` +
  `one uplink ${NPM_REGISTRY} (maxage 1d), every package readable without auth and proxied, ` +
  "storage on local disk, web UI off, log at level http as JSON lines";

export async function startVerdaccio(options: PeerOptions): Promise<RunningPeer> {
  const app = await installVerdaccio(options.workDir);
  const dataDir = options.dataDir ?? join(options.workDir, "data");
  const storage = join(dataDir, "storage");
  if (options.fresh) await removeTree(storage);
  await Deno.mkdir(storage, { recursive: true });
  const config = join(dataDir, "config.yaml");
  await Deno.writeTextFile(config, verdaccioConfig(dataDir, options.port));
  const logFile = options.logFile ?? join(dataDir, "server.log");

  const listen = `127.0.0.1:${options.port}`;
  const server = LoggedProcess.spawn(
    "node",
    [
      join(app, "node_modules", "verdaccio", "bin", "verdaccio"),
      "--config",
      config,
      "--listen",
      listen,
    ],
    logFile,
    // The environment's CA variables (NODE_EXTRA_CA_CERTS) stay: the uplink is https.
    { cwd: dataDir, env: { ...withoutNpmConfig(), NODE_ENV: "production" }, clearEnv: true },
  );
  const url = `http://${listen}`;
  try {
    await server.waitUntilAnswers(
      `${url}/-/ping`,
      `verdaccio ${VERDACCIO_VERSION}`,
      START_TIMEOUT_MS,
    );
  } catch (error) {
    await server.stop();
    throw error;
  }
  return {
    name: `verdaccio ${VERDACCIO_VERSION}`,
    clientUrl: `${url}/`,
    pid: server.pid,
    traffic: (from, to) => verdaccioTraffic(logFile, from, to),
    stop: () => server.stop(),
  };
}

/**
 * The configuration of a plain caching proxy: every package readable without auth and proxied to
 * the one uplink, storage on disk, the web UI and the audit middleware off (the bench's npm runs
 * with --no-audit), and logs as JSON lines at level `http` (one line per request served and per
 * uplink request, which `verdaccioTraffic` counts).
 *
 * `maxage: 1d`: how long a cached packument counts as fresh (Verdaccio's default is 2 minutes).
 * `vm pkg` runs in the bench with --ttl=86400 so that warm runs measure a populated cache, not
 * revalidation; the peer gets the same freshness.
 */
function verdaccioConfig(dataDir: string, port: number): string {
  return `# written by bench/peers/verdaccio.ts
storage: ${JSON.stringify(join(dataDir, "storage"))}
plugins: ${JSON.stringify(join(dataDir, "plugins"))}
listen: 127.0.0.1:${port}
web:
  enable: false
auth:
  htpasswd:
    file: ${JSON.stringify(join(dataDir, "htpasswd"))}
    max_users: -1
uplinks:
  npmjs:
    url: ${NPM_REGISTRY}
    maxage: 1d
    timeout: 60s
    max_fails: 10
    fail_timeout: 10s
packages:
  "@*/*":
    access: $all
    publish: $authenticated
    proxy: npmjs
  "**":
    access: $all
    publish: $authenticated
    proxy: npmjs
server:
  keepAliveTimeout: 60
max_body_size: 100mb
log:
  type: stdout
  format: json
  level: http
`;
}

/** Installs verdaccio into `<workDir>/app` once; later runs reuse it. Returns the app dir. */
export async function installVerdaccio(workDir: string): Promise<string> {
  const app = join(workDir, "app");
  const installed = await Deno.readTextFile(
    join(app, "node_modules", "verdaccio", "package.json"),
  ).then((text) => (JSON.parse(text) as { version?: string }).version).catch(() => undefined);
  if (installed === VERDACCIO_VERSION) return app;

  // Into a temporary dir first, so that an interrupted install never looks like a finished one.
  await Deno.mkdir(workDir, { recursive: true });
  const staging = await Deno.makeTempDir({ dir: workDir, prefix: "app-installing-" });
  try {
    await Deno.writeTextFile(
      join(staging, "package.json"),
      JSON.stringify({
        name: "vm-bench-verdaccio",
        version: "1.0.0",
        private: true,
        dependencies: { verdaccio: VERDACCIO_VERSION },
        overrides: { "node-fetch@cjs": "2.7.0" },
      }),
    );
    // The same isolation as the measured npm runs: own cache, empty npmrc files.
    const userconfig = join(staging, ".npmrc-user");
    const globalconfig = join(staging, ".npmrc-global");
    await Deno.writeTextFile(userconfig, "");
    await Deno.writeTextFile(globalconfig, "");
    await runSetup(`npm install verdaccio@${VERDACCIO_VERSION}`, "npm", [
      "install",
      `--registry=${NPM_REGISTRY}`,
      `--cache=${join(workDir, "npm-cache")}`,
      `--userconfig=${userconfig}`,
      "--no-audit",
      "--no-fund",
      "--no-update-notifier",
      "--omit=dev",
      "--loglevel=warn",
    ], {
      cwd: staging,
      env: { ...withoutNpmConfig(), NPM_CONFIG_GLOBALCONFIG: globalconfig },
      clearEnv: true,
    });
    await removeTree(app);
    await Deno.rename(staging, app);
  } catch (error) {
    await removeTree(staging);
    throw error;
  }
  return app;
}

/** The environment minus npm_config_* variables, which would override the empty npmrc files. */
function withoutNpmConfig(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([name]) => !/^npm_config_/i.test(name)),
  );
}

interface VerdaccioLogLine {
  time?: number;
  msg?: string;
  req?: { url?: string };
  request?: { method?: string; url?: string };
  bytes?: { in?: number; out?: number };
}

/**
 * Counts Verdaccio's log lines (JSON, level `http`) between `from` and `to`, as 5.33.0 writes
 * them: one `<ip> requested 'GET /path'` line when a client request arrives, one
 * `making request: 'GET https://…'` line per uplink request (packuments and tarballs), and two
 * `<status>, user: …, bytes: in/out` lines per response (the first, `0/0`, when it starts; the
 * second with the body size when it ends), so the served bytes of a path are the larger `out` of
 * each of its pairs. Verdaccio logs the body size of an uplink packument but not of a tarball, so
 * upstream bytes are unknown.
 */
async function verdaccioTraffic(
  logFile: string,
  from: number,
  to: number,
): Promise<PeerTraffic | undefined> {
  const text = await Deno.readTextFile(logFile).catch(() => undefined);
  if (text === undefined) return undefined;
  let requests = 0;
  let upstreamRequests = 0;
  const outsPerPath = new Map<string, number[]>();
  for (const line of text.split("\n")) {
    if (!line.startsWith("{")) continue;
    let entry: VerdaccioLogLine;
    try {
      entry = JSON.parse(line);
    } catch {
      continue;
    }
    if (entry.time === undefined || entry.time < from || entry.time > to) continue;
    const msg = entry.msg ?? "";
    if (msg.startsWith("making request: ")) {
      upstreamRequests++;
    } else if (entry.req?.url !== undefined && msg.includes(" requested '")) {
      requests++;
    } else if (entry.request?.url !== undefined && msg.includes(", user: ")) {
      const outs = outsPerPath.get(entry.request.url) ?? [];
      outs.push(entry.bytes?.out ?? 0);
      outsPerPath.set(entry.request.url, outs);
    }
  }
  let servedBytes = 0;
  for (const outs of outsPerPath.values()) {
    for (let i = 0; i < outs.length; i += 2) servedBytes += Math.max(outs[i], outs[i + 1] ?? 0);
  }
  return { requests, upstreamRequests, servedBytes };
}
