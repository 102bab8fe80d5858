// `vm pkg …`: the package registry commands. Output and argument handling only; the work is in
// src/daemon and src/registry.
import { Command, InvalidArgumentError } from "@commander-js/extra-typings";
import { resolveDataDir, type SettingOption, settingOptions } from "../config/settings.ts";
import { findServer } from "../daemon/server_record.ts";
import { runForeground, stopServer } from "../daemon/lifecycle.ts";
import {
  launchInBackground,
  launchInDocker,
  registryOptionsFor,
  startChoices,
} from "../daemon/registry_start.ts";
import { advertisementFromEnv } from "../daemon/registry_container.ts";
import { DEFAULT_IMAGE } from "../vm/config.ts";
import type { RegistryStatus, ReportedStatus } from "../registry/server.ts";
import { ECOSYSTEMS } from "../registry/ecosystems.ts";
import { ROUTED_CLIENTS } from "../clients/routing.ts";
import { CliError } from "../host/errors.ts";
import { addPackageCommands } from "./pkg_packages.ts";
import { configCommand } from "./pkg_config.ts";
import { addClientCommands } from "./pkg_clients.ts";
import { addRoutesCommand } from "./pkg_routes.ts";
import { addUiCommand } from "./pkg_ui.ts";
import { configureProject } from "./project_setup.ts";
import { configuredProjectDirs, unconfigureProjects } from "../clients/project_config.ts";
import { dataLayout } from "../store/data_dir.ts";
import { readToken } from "../registry/auth.ts";
import type { ServerRecord } from "../daemon/server_record.ts";
import { formatBytes, formatDuration, formatPercent, formatRatio, formatSaving } from "./format.ts";
import { savingRatio } from "../registry/counters.ts";
import { DATA_HELP, parseHttpUrl, parseSeconds } from "./options.ts";

/** A setting's option text, checked by the setting's parser; kept as text. */
function checkOptionText(option: SettingOption, text: string): string {
  if (!option.accepts(text)) throw new InvalidArgumentError(`must be ${option.expected}`);
  return text;
}

/** commander's attribute name of a long option: "max-cache-size" → "maxCacheSize". */
const camelCase = (long: string) => long.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

export function pkgCommand(): Command {
  const pkg = new Command("pkg")
    .description(
      `the package registry on this host, for ${ECOSYSTEMS.map((each) => each.id).join(", ")}`,
    )
    // So `vm pkg exec npm --version` passes --version to npm.
    .enablePositionalOptions();

  const start = pkg.command("start")
    .description("start the registry (in the background unless --foreground)")
    .option("--foreground", "run in this terminal until Ctrl-C");
  const settingFlags = settingOptions();
  addSettingOptions(start, settingFlags);
  start
    .option("--no-config", "write no client configuration into the project in this directory")
    .option("--no-bridge", "do not also listen on the Docker bridge for containers")
    .option("--docker", "run the registry in a Docker container (restarted with Docker)")
    .option("--image <image>", "the image for --docker", DEFAULT_IMAGE)
    .addHelpText(
      "after",
      "\nAn option not given takes its value from the config file (vm pkg config), else the" +
        "\ndefault shown. Config keys are the option names in snake_case; --data is data_dir," +
        "\n--ttl is metadata_ttl, --max-stale is metadata_max_stale." +
        "\n\nExamples:\n  vm pkg start\n  vm pkg start --foreground --port 4873" +
        "\n  vm pkg start --offline",
    )
    .action(async (flags) => {
      const given = flags as Record<string, unknown>;
      const choices = await startChoices(
        Object.fromEntries(settingFlags.flatMap((option) => {
          const value = given[camelCase(option.long)];
          return value === undefined ? [] : [[option.key, String(value)]];
        })),
        { bridge: flags.bridge },
      );
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
          ? (record: ServerRecord) => configureProject(choices.dataDir, record)
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
      for (const ecosystem of ECOSYSTEMS) {
        console.log(`  ${(ecosystem.id + ":").padEnd(9)}${ecosystem.clientUrl(record.url)}`);
      }
      if ((record.addresses?.length ?? 0) > 1) {
        console.log(
          `  docker:  also on ${record.addresses!.slice(1).join(", ")} ` +
            `(containers: http://host.docker.internal:${record.port})`,
        );
      }
      console.log(`  shell:   eval "$(vm pkg use)"  (${ROUTED_CLIENTS.join(", ")} go through it)`);
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
    .option("--server <url>", "ask the registry at this URL instead of the one of --data")
    .option("--json", "print JSON for scripts")
    .addHelpText(
      "after",
      "\nExit status: 0 when running, 3 when not running (or not answering at --server)." +
        "\n\nExamples:\n  vm pkg status\n  vm pkg status --server http://team-cache:3080 --json",
    )
    .action(async (options) => {
      const status = options.server
        ? await remoteStatus(parseHttpUrl(options.server), options.json)
        : await localStatus(await resolveDataDir(options.data), options.json);
      if (options.json) {
        console.log(JSON.stringify({ running: true, ...status }, null, 2));
        return;
      }
      printStatus(status);
    });

  pkg.addCommand(configCommand());
  addPackageCommands(pkg);
  addClientCommands(pkg);
  addRoutesCommand(pkg);
  addUiCommand(pkg);
  return pkg;
}

/**
 * One `vm pkg start` option per setting, from the settings' own table (an ecosystem's upstream
 * keys included), with no commander defaults: an absent option falls back to the config file,
 * then the default. Each keeps the text it was given; the settings' parser reads it the same way
 * it reads the file.
 */
export function addSettingOptions(command: Command, options: SettingOption[]): void {
  for (const option of options) {
    const help = option.key === "data_dir"
      ? DATA_HELP
      : option.boolean
      ? option.meaning
      : `${option.meaning} (default: ${option.defaultText})`;
    if (option.boolean) {
      command.option(option.flags, help);
      command.option(
        `--no-${option.long}`,
        `do not, even if the config file says ${option.key}: true`,
      );
    } else {
      command.option(option.flags, help, (text: string) => checkOptionText(option, text));
    }
  }
}

type ShownStatus = ReportedStatus & { container?: string };

/** Says "not running" (text or JSON) and exits 3. */
function notRunning(json: boolean | undefined, fields: Record<string, string | null>): never {
  const reason = fields.reason;
  if (json) console.log(JSON.stringify({ running: false, ...fields }));
  else console.log(`vm pkg: not running${reason ? ` (${reason})` : ""}`);
  throw new CliError("", 3);
}

/** The registry of this host's data dir. */
async function localStatus(dataDir: string, json: boolean | undefined): Promise<ShownStatus> {
  const found = await findServer(dataDir);
  if (found.state !== "running") {
    const reason = found.state === "unresponsive"
      ? `pid ${found.record.pid} does not answer at ${found.record.url}`
      : null;
    notRunning(json, { dataDir, reason });
  }
  // The token shows the paths and pid also where the server does not see this host as loopback
  // (in a container, or listening on another address).
  const token = await readToken(dataDir).catch(() => undefined);
  const reported = await fetchStatus(found.record.url, token);
  // A server in a container reports its own view (0.0.0.0:3080, /data, pid 1); show the host's.
  return found.record.container
    ? { ...reported, url: found.record.url, dataDir, container: found.record.container }
    : reported;
}

/**
 * Any registry, by URL (a team registry, another host's). Its paths, pid and upstreams are shown
 * only to its own host or with its token, and this host's token is never sent to another.
 */
async function remoteStatus(url: string, json: boolean | undefined): Promise<ShownStatus> {
  try {
    return await fetchStatus(url);
  } catch (error) {
    notRunning(json, { url, reason: (error as Error).message.replace(/^.*?: /, "") });
  }
}

async function fetchStatus(url: string, token?: string): Promise<ReportedStatus> {
  try {
    const response = await fetch(`${url}/-/status`, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
      signal: AbortSignal.timeout(5000),
    });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    return await response.json();
  } catch (error) {
    throw new CliError(
      `the registry at ${url} did not report its status: ${(error as Error).message}`,
    );
  }
}

/**
 * What the cache's bytes on disk are made of (a server from before the breakdown reports only the
 * total: no row).
 */
function diskRow(cache: Partial<RegistryStatus["cache"]>): [string, string][] {
  if (cache.blobBytes === undefined || cache.renderedBytes === undefined) return [];
  const parts = [
    `${formatBytes(cache.blobBytes)} in ${cache.blobs} blobs`,
    `${formatBytes(cache.renderedBytes)} in ${cache.renderedFiles} rendered documents`,
  ];
  if (cache.tmpBytes) parts.push(`${formatBytes(cache.tmpBytes)} being downloaded`);
  return [["On disk", parts.join(", ")]];
}

/** What a registry tells only its own host and holders of its token. */
const NOT_SHOWN = "(shown only on the registry's host or with its token)";

/**
 * The upstreams whose last failure came after their last answer (still failing, as far as the
 * registry knows), e.g. `pypi https://pypi.org/simple — connection refused, 2m ago`; "" if none.
 */
export function upstreamErrors(status: ReportedStatus, nowMs: number): string {
  return Object.entries(status.upstreamHealth ?? {})
    .filter(([, h]) => h.lastErrorAt && (!h.lastSuccessAt || h.lastErrorAt > h.lastSuccessAt))
    .map(([name, h]) => {
      const ago = Math.max(0, (nowMs - Date.parse(h.lastErrorAt!)) / 1000);
      return `${name} ${h.url} — ${h.lastError}, ${formatDuration(ago)} ago`;
    })
    .join("; ");
}

function printStatus(status: ShownStatus): void {
  const ecosystems = Object.entries(status.ecosystems);
  const totals = status.totals;
  const sum = (pick: (c: RegistryStatus["ecosystems"][string]) => number) =>
    ecosystems.reduce((total, [, counters]) => total + pick(counters), 0);
  const freshness = status.freshness;
  const rows: [string, string][] = [
    ["URL", status.url],
    status.container
      ? ["Container", status.container]
      : ["PID", status.pid === undefined ? NOT_SHOWN : String(status.pid)],
    ["Uptime", formatDuration(status.uptimeSeconds)],
    ["Data dir", status.dataDir ?? NOT_SHOWN],
    [
      "Metadata",
      freshness.offline
        ? "offline: only the cache answers, no upstream is contacted"
        : `fresh for ${formatDuration(freshness.ttlSeconds)}, then answered at once and ` +
          `refreshed in the background for up to ${formatDuration(freshness.maxStaleSeconds)}`,
    ],
    [
      "Cached",
      `${sum((c) => c.packages)} packages (${formatBytes(sum((c) => c.cachedBytes))} of files), ` +
      `${sum((c) => c.documents)} documents; ${formatBytes(status.cache.bytes)} on disk` +
      (status.cache.limit ? ` of ${formatBytes(status.cache.limit)} allowed` : " (no limit)"),
    ],
    ...diskRow(status.cache),
    [
      "Hit ratio",
      `${formatRatio(totals.cacheHits, totals.cacheMisses)} ` +
      `(${totals.cacheHits} hits, ${totals.cacheMisses} misses)`,
    ],
    ["Served", `${formatBytes(totals.servedBytes)} to clients`],
    [
      "Upstream",
      `${formatBytes(totals.upstreamBytes)} in ${totals.upstreamRequests} requests` +
      (totals.backgroundRequests ? ` (${totals.backgroundRequests} background refreshes)` : ""),
    ],
    ["Saved", formatSaving(totals)],
  ];
  console.log("vm pkg: running");
  for (const [label, value] of rows) console.log(`  ${(label + ":").padEnd(11)} ${value}`);
  const failing = upstreamErrors(status, Date.now());
  if (failing) console.log(`  Upstream errors: ${failing}`);
  for (const [name, c] of ecosystems) {
    const saved = savingRatio(c);
    console.log(
      `  ${(name + ":").padEnd(11)} ${c.packages} cached, ${c.documents} documents, ` +
        `${c.privatePackages} private, ${c.requests} requests, ` +
        `${formatRatio(c.cacheHits, c.cacheMisses)} hits, ${
          formatBytes(c.upstreamBytes)
        } upstream` +
        (saved === null ? "" : `, ${formatPercent(saved)} saved`),
    );
  }
}
