// devpi-server as a caching mirror of pypi.org: the PyPI peer of `vm pkg`. Its `root/pypi` index
// (made by `devpi-init`) mirrors https://pypi.org/simple/ and keeps every file it has served.
import { join } from "node:path";
import type { PeerOptions, PeerTraffic, RunningPeer } from "./peer.ts";
import { LoggedProcess, removeTree, runSetup } from "./process.ts";

const PYPI_INDEX = "https://pypi.org/simple/";
const START_TIMEOUT_MS = 120_000;
/**
 * How long a mirrored project page counts as fresh (devpi's default is 30 minutes). `vm pkg` runs
 * in the bench with --ttl=86400 so that warm runs measure a populated cache, not revalidation; the
 * peer gets the same freshness.
 */
const MIRROR_CACHE_EXPIRY_SECONDS = 86_400;

/** How the peer is set up, for the report. */
export const DEVPI_DESCRIPTION =
  "devpi-server (the latest from PyPI when first installed) in its " +
  `own venv, root/pypi mirroring ${PYPI_INDEX}, --mirror-cache-expiry ` +
  `${MIRROR_CACHE_EXPIRY_SECONDS}, 50 threads (the default)`;

export async function startDevpi(options: PeerOptions): Promise<RunningPeer> {
  const { bin, version } = await installDevpi(options.workDir);
  const dataDir = options.dataDir ?? join(options.workDir, "data");
  const serverDir = join(dataDir, "server");
  const logFile = options.logFile ?? join(dataDir, "server.log");
  await Deno.mkdir(dataDir, { recursive: true });
  const env = pythonEnv(dataDir);

  const initialized = await Deno.stat(join(serverDir, ".serverversion")).then(
    () => true,
    () => false,
  );
  if (options.fresh || !initialized) {
    await removeTree(serverDir);
    await runSetup("devpi-init", join(bin, "devpi-init"), ["--serverdir", serverDir], {
      cwd: dataDir,
      env,
      clearEnv: true,
    });
  }

  // devpi logs one line per client request; its HTTP client (httpx) one per upstream request once
  // raised to INFO (devpi sets it to ERROR), which `devpiTraffic` counts.
  const loggerConfig = join(dataDir, "logging.json");
  await Deno.writeTextFile(
    loggerConfig,
    JSON.stringify({ version: 1, incremental: true, loggers: { httpx: { level: "INFO" } } }),
  );
  const server = LoggedProcess.spawn(
    join(bin, "devpi-server"),
    [
      "--serverdir",
      serverDir,
      "--host",
      "127.0.0.1",
      "--port",
      String(options.port),
      "--mirror-cache-expiry",
      String(MIRROR_CACHE_EXPIRY_SECONDS),
      "--logger-cfg",
      loggerConfig,
    ],
    logFile,
    { cwd: dataDir, env, clearEnv: true },
  );
  const url = `http://127.0.0.1:${options.port}`;
  try {
    await server.waitUntilAnswers(`${url}/+api`, `devpi-server ${version}`, START_TIMEOUT_MS);
  } catch (error) {
    await server.stop();
    throw error;
  }
  return {
    name: `devpi-server ${version}`,
    clientUrl: `${url}/root/pypi/+simple/`,
    pid: server.pid,
    traffic: (from, to) => devpiTraffic(logFile, from, to),
    stop: () => server.stop(),
  };
}

/**
 * Makes `<workDir>/venv` and installs the latest devpi-server from pypi.org into it, once; later
 * runs reuse it. Returns the venv's bin dir and the installed version.
 */
export async function installDevpi(workDir: string): Promise<{ bin: string; version: string }> {
  const venv = join(workDir, "venv");
  const bin = join(venv, "bin");
  const installedVersion = async () => {
    const text = await runSetup("devpi-server --version", join(bin, "devpi-server"), [
      "--version",
    ], { env: pythonEnv(workDir), clearEnv: true }).catch(() => undefined);
    return text?.trim().split("\n").pop()?.trim();
  };
  const marker = join(venv, ".bench-installed");
  if (await Deno.stat(marker).then(() => true, () => false)) {
    const version = await installedVersion();
    if (version) return { bin, version };
  }

  await removeTree(venv);
  await Deno.mkdir(workDir, { recursive: true });
  const env = pythonEnv(workDir);
  await runSetup("python3 -m venv", "python3", ["-m", "venv", venv], { env, clearEnv: true });
  // `--isolated` and the environment without PIP_* (see pythonEnv): the machine's pip settings
  // (PIP_FIND_LINKS=/opt/wheels here) must not decide what gets installed.
  await runSetup("pip install devpi-server", join(bin, "python"), [
    "-m",
    "pip",
    "install",
    "--isolated",
    "--disable-pip-version-check",
    "--quiet",
    "--index-url",
    PYPI_INDEX,
    "devpi-server",
  ], { cwd: workDir, env, clearEnv: true });
  const version = await installedVersion();
  if (!version) throw new Error(`devpi-server was installed into ${venv} but does not run`);
  await Deno.writeTextFile(marker, `${version}\n`);
  return { bin, version };
}

/**
 * The environment minus pip's and Python's own variables (PIP_FIND_LINKS, PYTHONPATH, a virtualenv
 * of the caller), with the CA variables kept (SSL_CERT_FILE, REQUESTS_CA_BUNDLE: the upstream is
 * https behind this machine's TLS interception), and HOME inside the peer's directory so that
 * nothing is read from or written to the user's ~/.config/devpi.
 */
function pythonEnv(home: string): Record<string, string> {
  const kept = Object.entries(Deno.env.toObject()).filter(([name]) =>
    !/^(PIP_|PYTHON|VIRTUAL_ENV|DEVPI)/.test(name)
  );
  return { ...Object.fromEntries(kept), HOME: home, PIP_CONFIG_FILE: "/dev/null" };
}

/**
 * Counts devpi-server's log lines between `from` and `to`: one `[req…] GET /path` line per client
 * request, and one `HTTP Request: GET https://…` line (httpx) per request to pypi.org or
 * files.pythonhosted.org. Neither carries body sizes, so bytes are unknown.
 */
async function devpiTraffic(
  logFile: string,
  from: number,
  to: number,
): Promise<PeerTraffic | undefined> {
  const text = await Deno.readTextFile(logFile).catch(() => undefined);
  if (text === undefined) return undefined;
  let requests = 0;
  let upstreamRequests = 0;
  for (const line of text.split("\n")) {
    const time = devpiLineTime(line);
    if (time === undefined || time < from || time > to) continue;
    if (DEVPI_REQUEST.test(line)) requests++;
    else if (DEVPI_UPSTREAM.test(line)) upstreamRequests++;
  }
  return { requests, upstreamRequests };
}

const DEVPI_REQUEST = / \[req\d+\] (GET|HEAD) \//;
const DEVPI_UPSTREAM = / HTTP Request: (GET|HEAD) https:\/\//;

/** `2026-11-24 04:20:01,123 INFO  …`, in local time. */
function devpiLineTime(line: string): number | undefined {
  const match = line.match(/^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d),(\d{3}) /);
  if (!match) return undefined;
  return new Date(`${match[1]}T${match[2]}.${match[3]}`).getTime();
}
