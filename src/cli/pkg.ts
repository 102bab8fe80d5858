// `vm pkg …`: the package registry commands. Output and argument handling only; the work is in
// src/daemon and src/registry.
import { Command } from "@commander-js/extra-typings";
import { resolveDataDir } from "../config/settings.ts";
import { findServer } from "../daemon/server_record.ts";
import { runForeground, stopServer } from "../daemon/lifecycle.ts";
import {
  launchInBackground,
  launchInDocker,
  registryOptionsFor,
  startChoices,
} from "./registry_start.ts";
import { advertisementFromEnv } from "../daemon/registry_container.ts";
import { DEFAULT_IMAGE } from "../vm/config.ts";
import {
  DEFAULT_HOST,
  DEFAULT_METADATA_TTL_SECONDS,
  DEFAULT_NPM_UPSTREAM,
  DEFAULT_PORT,
  type RegistryStatus,
} from "../registry/server.ts";
import { DEFAULT_PYPI_FILES, DEFAULT_PYPI_INDEX } from "../registry/pypi/handler.ts";
import { DEFAULT_CARGO_FILES, DEFAULT_CARGO_INDEX } from "../registry/cargo/handler.ts";
import { cargoSparseIndexUrl } from "../registry/cargo/client_config.ts";
import { CliError } from "./errors.ts";
import { addPackageCommands } from "./pkg_packages.ts";
import { configCommand } from "./pkg_config.ts";
import { addClientCommands } from "./pkg_clients.ts";
import { configureProject } from "./project_setup.ts";
import { configuredProjectDirs, unconfigureProjects } from "../clients/project_config.ts";
import { dataLayout } from "../config/paths.ts";
import type { ServerRecord } from "../daemon/server_record.ts";
import { formatBytes, formatDuration, formatRatio } from "./format.ts";
import {
  DATA_HELP,
  parseHost,
  parseHttpUrl,
  parsePort,
  parseSeconds,
  parseSizeOption,
} from "./options.ts";

export function pkgCommand(): Command {
  const pkg = new Command("pkg")
    .description("the package registry on this host, for npm, pip/uv and cargo")
    // So `vm pkg exec npm --version` passes --version to npm.
    .enablePositionalOptions();

  pkg.command("start")
    .description("start the registry (in the background unless --foreground)")
    // No commander defaults here: an absent flag falls back to the config file, then the default.
    .option("-p, --port <port>", `port to listen on (default: ${DEFAULT_PORT})`, parsePort)
    .option(
      "--host <addr>",
      `address to listen on, 0.0.0.0 means every interface (default: ${DEFAULT_HOST})`,
      parseHost,
    )
    .option("--data <dir>", DATA_HELP)
    .option("--foreground", "run in this terminal until Ctrl-C")
    .option(
      "--npm-upstream <url>",
      `upstream npm registry (default: ${DEFAULT_NPM_UPSTREAM})`,
      parseHttpUrl,
    )
    .option(
      "--pypi-upstream <url>",
      `upstream PyPI Simple API (default: ${DEFAULT_PYPI_INDEX})`,
      parseHttpUrl,
    )
    .option(
      "--pypi-files-upstream <url>",
      `host PyPI files come from (default: ${DEFAULT_PYPI_FILES})`,
      parseHttpUrl,
    )
    .option(
      "--cargo-upstream <url>",
      `upstream sparse index (default: ${DEFAULT_CARGO_INDEX})`,
      parseHttpUrl,
    )
    .option(
      "--cargo-files-upstream <url>",
      `where .crate files come from (default: ${DEFAULT_CARGO_FILES})`,
      parseHttpUrl,
    )
    .option(
      "--ttl <seconds>",
      `how long cached metadata is fresh (default: ${DEFAULT_METADATA_TTL_SECONDS})`,
      parseSeconds,
    )
    .option("--log-requests", "log one line per request")
    .option("--no-log-requests", "do not, even if the config file says log_requests: true")
    .option("--no-config", "write no client configuration into the project in this directory")
    .addHelpText(
      "after",
      "\nAn option not given takes its value from the config file (vm pkg config), else the" +
        "\ndefault shown. Config keys are the option names in snake_case; --data is data_dir," +
        "\n--ttl is metadata_ttl." +
        "\n\nExamples:\n  vm pkg start\n  vm pkg start --foreground --port 4873",
    )
    .option(
      "--max-cache-size <size>",
      "evict least recently used public files past this size (default: unlimited)",
      parseSizeOption,
    )
    .option("--no-bridge", "do not also listen on the Docker bridge for containers")
    .option("--docker", "run the registry in a Docker container (restarted with Docker)")
    .option("--image <image>", "the image for --docker", DEFAULT_IMAGE)
    .action(async (flags) => {
      const choices = await startChoices(flags);
      const found = await findServer(choices.dataDir);
      if (found.state !== "stopped") {
        const where = found.record.container
          ? `container ${found.record.container}`
          : `pid ${found.record.pid}`;
        console.log(`vm pkg: already running at ${found.record.url} (${where})`);
        if (flags.config) await configureProject(choices.dataDir, found.record);
        return;
      }
      if (flags.foreground) {
        if (flags.docker) throw new CliError("--docker runs under Docker, not in this terminal");
        const onReady = flags.config
          ? (record: ServerRecord) => void configureProject(choices.dataDir, record)
          : undefined;
        const advertise = advertisementFromEnv();
        await runForeground({ ...registryOptionsFor(choices), onReady, advertise }).catch(
          (error) => {
            throw new CliError((error as Error).message);
          },
        );
        return;
      }
      if (flags.docker) {
        const record = await launchInDocker(choices, flags.image);
        console.log(`vm pkg: registry running at ${record.url} in container ${record.container}`);
        console.log(`  data:    ${choices.dataDir} (mounted at /data)`);
        console.log(`  docker:  restarts with Docker; logs: docker logs ${record.container}`);
        if (flags.config) await configureProject(choices.dataDir, record);
        return;
      }
      const { record, logFile } = await launchInBackground(choices);
      console.log(`vm pkg: registry running at ${record.url} (pid ${record.pid})`);
      console.log(`  npm:     ${record.url}/npm/`);
      console.log(`  pypi:    ${record.url}/pypi/simple/`);
      console.log(`  cargo:   ${cargoSparseIndexUrl(record.url)}`);
      if ((record.addresses?.length ?? 0) > 1) {
        console.log(
          `  docker:  also on ${record.addresses!.slice(1).join(", ")} ` +
            `(containers: http://host.docker.internal:${record.port})`,
        );
      }
      console.log(`  shell:   eval "$(vm pkg use)"  (npm, pip, uv, cargo… go through it)`);
      console.log(`  publish: vm pkg add (writes need the token: vm pkg token)`);
      console.log(`  log:     ${logFile}`);
      if (flags.config) await configureProject(choices.dataDir, record);
    });

  pkg.command("stop")
    .description("stop the registry, letting in-flight downloads finish")
    .option("--data <dir>", DATA_HELP)
    .option("--timeout <seconds>", "how long to wait before killing it", parseSeconds, 30)
    .action(async (options) => {
      const dataDir = await resolveDataDir(options.data);
      const found = await findServer(dataDir);
      const configured = await configuredProjectDirs(dataLayout(dataDir).projectsFile);
      if (found.state === "stopped") {
        console.log("vm pkg: not running");
      } else {
        const outcome = await stopServer(dataDir, found.record, options.timeout * 1000);
        const what = found.record.container
          ? `container ${found.record.container}`
          : `pid ${found.record.pid}`;
        console.log(
          outcome === "stopped"
            ? `vm pkg: stopped (${what})`
            : `vm pkg: did not stop within ${options.timeout}s; killed ${what}`,
        );
      }
      // The server cleans up when it stops; this covers one that was killed or crashed.
      await unconfigureProjects(dataLayout(dataDir).projectsFile);
      if (configured.length > 0) {
        console.log(`  project config removed from: ${configured.join(", ")}`);
      }
    });

  pkg.command("status")
    .description("show whether the registry runs, and its cache and traffic figures")
    .option("--data <dir>", DATA_HELP)
    .option("--json", "print JSON for scripts")
    .addHelpText("after", "\nExit status: 0 when running, 3 when not running.")
    .action(async (options) => {
      const dataDir = await resolveDataDir(options.data);
      const found = await findServer(dataDir);
      if (found.state !== "running") {
        const reason = found.state === "unresponsive"
          ? `pid ${found.record.pid} does not answer at ${found.record.url}`
          : undefined;
        if (options.json) {
          console.log(JSON.stringify({ running: false, dataDir, reason: reason ?? null }));
        } else {
          console.log(`vm pkg: not running${reason ? ` (${reason})` : ""}`);
        }
        throw new CliError("", 3);
      }
      const reported = await fetchStatus(found.record.url);
      // A server in a container reports its own view (0.0.0.0:3080, /data, pid 1); show the host's.
      const status = found.record.container
        ? { ...reported, url: found.record.url, dataDir, container: found.record.container }
        : reported;
      if (options.json) {
        console.log(JSON.stringify({ running: true, ...status }, null, 2));
        return;
      }
      printStatus(status);
    });

  pkg.addCommand(configCommand());
  addPackageCommands(pkg);
  addClientCommands(pkg);
  return pkg;
}

async function fetchStatus(url: string): Promise<RegistryStatus> {
  try {
    const response = await fetch(`${url}/-/status`, { signal: AbortSignal.timeout(5000) });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    return await response.json();
  } catch (error) {
    throw new CliError(
      `the registry at ${url} did not report its status: ${(error as Error).message}`,
    );
  }
}

function printStatus(status: RegistryStatus & { container?: string }): void {
  const ecosystems = Object.entries(status.ecosystems);
  const sum = (pick: (c: RegistryStatus["ecosystems"][string]) => number) =>
    ecosystems.reduce((total, [, counters]) => total + pick(counters), 0);
  const hits = sum((c) => c.cacheHits);
  const misses = sum((c) => c.cacheMisses);
  const rows: [string, string][] = [
    ["URL", status.url],
    status.container ? ["Container", status.container] : ["PID", String(status.pid)],
    ["Uptime", formatDuration(status.uptimeSeconds)],
    ["Data dir", status.dataDir],
    [
      "Cached",
      `${sum((c) => c.packages)} packages, ${formatBytes(status.cache.bytes)} on disk` +
      (status.cache.limit ? ` of ${formatBytes(status.cache.limit)} allowed` : " (no limit)"),
    ],
    ["Hit ratio", `${formatRatio(hits, misses)} (${hits} hits, ${misses} misses)`],
    ["Served", `${formatBytes(sum((c) => c.servedBytes))} to clients`],
    [
      "Upstream",
      `${formatBytes(sum((c) => c.upstreamBytes))} in ${sum((c) => c.upstreamRequests)} requests`,
    ],
  ];
  console.log("vm pkg: running");
  for (const [label, value] of rows) console.log(`  ${(label + ":").padEnd(11)} ${value}`);
  for (const [name, c] of ecosystems) {
    console.log(
      `  ${(name + ":").padEnd(11)} ${c.packages} cached, ${c.privatePackages} private, ` +
        `${c.requests} requests, ` +
        `${formatRatio(c.cacheHits, c.cacheMisses)} hits, ${formatBytes(c.upstreamBytes)} upstream`,
    );
  }
}
