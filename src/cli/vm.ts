// `vm create | start | stop | restart | destroy | ssh | exec | logs | list | status | provision`:
// the VM half of the tool. Output and arguments only; the work is in src/vm.
import { Command as CommandClass, type CommandUnknownOpts } from "@commander-js/extra-typings";
import { findVmConfig, loadVmConfig, VM_CONFIG_FILE, type VmConfig } from "../vm/config.ts";
import {
  configDigest,
  containerName,
  createContainer,
  inspectVm,
  listVms,
  removeContainer,
  startContainer,
  stopContainer,
  type VmInfo,
} from "../vm/docker_provider.ts";
import { dockerInteractive } from "../host/docker_cli.ts";
import { isProvisioned, provision } from "../vm/provision.ts";
import { homeOf, type VmUser, vmUser, workspaceUser } from "../vm/vm_user.ts";
import {
  type RegistryHealth,
  registryHealth,
  runningRegistry,
  startRegistryForVms,
  unreachableFromContainers,
} from "../vm/registry_link.ts";
import type { ServerRecord } from "../daemon/server_record.ts";
import type { RegistryStatus } from "../registry/server.ts";
import { CliError } from "../host/errors.ts";
import { formatBytes, formatPercent, formatSaving, printTable } from "./format.ts";

const FILE_HELP = `the VM's ${VM_CONFIG_FILE} (default: the nearest one, from here upwards)`;

/** The project's config: --file, else the nearest vm.yaml. */
async function projectConfig(file: string | undefined): Promise<VmConfig> {
  const path = file ?? await findVmConfig(Deno.cwd());
  if (!path) {
    throw new CliError(
      `no ${VM_CONFIG_FILE} here or in any parent directory (create one: vm init)`,
    );
  }
  return await loadVmConfig(path);
}

/** The project's VM; an error saying how to create it when there is none. */
async function existingVm(config: VmConfig): Promise<VmInfo> {
  const vm = await inspectVm(containerName(config));
  if (!vm) throw new CliError(`${containerName(config)} does not exist (create it: vm create)`);
  return vm;
}

function log(line: string): void {
  console.error(line);
}

export function vmCommands(): CommandUnknownOpts[] {
  const create = new CommandClass("create")
    .description("create the VM of this project from its vm.yaml, and provision it")
    .option("-f, --file <path>", FILE_HELP)
    .option("-y, --yes", "start the package registry without asking when the VM wants it")
    .addHelpText(
      "after",
      "\nWith package_registry: true and no registry running, it asks `Start package registry?" +
        "\n[Y/n]` on a terminal; --yes and non-interactive runs start it.\n\nExample:\n  vm create",
    )
    .action(async (options) => {
      const config = await projectConfig(options.file);
      const name = containerName(config);
      let existing = await inspectVm(name);
      if (existing && !existing.everStarted && existing.state === "created") {
        // It never ran (a failed create of an earlier version): nothing in it is worth keeping,
        // and made anew it follows vm.yaml as it is now.
        log(`vm: ${name} never started; creating it again`);
        await removeContainer(name);
        existing = undefined;
      }
      if (existing) {
        await finishExisting(config, existing, options.yes);
        return;
      }
      const registry = config.packageRegistry ? await registryForCreate(options.yes) : undefined;
      const user = await workspaceUser(config);
      log(`vm: creating ${name} from ${config.image}`);
      await createContainer(config, { registryPort: registry?.port, user });
      try {
        await startContainer(name);
      } catch (error) {
        // A container that cannot start keeps nothing: removed, the next `vm create` starts over
        // from the fixed vm.yaml instead of finding a VM that exists but can never run.
        await removeContainer(name).catch(() => {});
        if (error instanceof CliError) {
          throw new CliError(
            `${error.message}; the container was removed: fix ${config.path} and run vm create again`,
          );
        }
        throw error;
      }
      await provisionOrExplain(config, name, user, registry);
      printCreated(name, registry);
    });

  const provisionCommand = new CommandClass("provision")
    .description("run the VM's setup again (user, registry configuration, packages)")
    .option("-f, --file <path>", FILE_HELP)
    .option("-y, --yes", "start the package registry without asking when the VM wants it")
    .action(async (options) => {
      const config = await projectConfig(options.file);
      const vm = await existingVm(config);
      if (vm.state !== "running") await startExisting(vm);
      const registry = config.packageRegistry ? await registryForCreate(options.yes) : undefined;
      await provision(config, vm.container, userOf(vm), {
        registryPort: registry?.port,
        log,
      });
      console.log(`provisioned ${vm.container}`);
    });

  const start = new CommandClass("start")
    .description("start the project's VM")
    .option("-f, --file <path>", FILE_HELP)
    .action(async (options) => {
      const config = await projectConfig(options.file);
      const vm = await existingVm(config);
      noteChangedConfig(config, vm);
      if (vm.state === "running") {
        console.log(`${vm.container} is already running`);
        return;
      }
      await startExisting(vm);
      console.log(`started ${vm.container}`);
      if (vm.registry && !await runningRegistry()) {
        log(
          "vm: the package registry is not running; the VM installs from the public registries " +
            "until: vm pkg start",
        );
      }
    });

  const stop = new CommandClass("stop")
    .description("stop the project's VM (its files and installed packages stay)")
    .option("-f, --file <path>", FILE_HELP)
    .action(async (options) => {
      const vm = await existingVm(await projectConfig(options.file));
      if (vm.state !== "running") {
        console.log(`${vm.container} is not running (${vm.state})`);
        return;
      }
      await stopContainer(vm.container);
      console.log(`stopped ${vm.container}`);
    });

  const restart = new CommandClass("restart")
    .description("stop and start the project's VM")
    .option("-f, --file <path>", FILE_HELP)
    .action(async (options) => {
      const vm = await existingVm(await projectConfig(options.file));
      if (vm.state === "running") await stopContainer(vm.container);
      await startExisting(vm);
      console.log(`restarted ${vm.container}`);
    });

  const destroy = new CommandClass("destroy")
    .description("remove the project's VM (the workspace on the host stays)")
    .option("-f, --file <path>", FILE_HELP)
    .option("--force", "do not ask")
    .action(async (options) => {
      const config = await projectConfig(options.file);
      const vm = await inspectVm(containerName(config));
      if (!vm) {
        console.log(`${containerName(config)} does not exist; nothing to remove`);
        return;
      }
      if (!options.force) {
        if (!Deno.stdin.isTerminal()) {
          throw new CliError(`removing ${vm.container} needs confirmation: pass --force`);
        }
        const answer = prompt(`Remove ${vm.container} and everything installed in it? [y/N]`);
        if (!answer || !/^y(es)?$/i.test(answer.trim())) throw new CliError("nothing removed");
      }
      await removeContainer(vm.container);
      console.log(`removed ${vm.container} (the workspace ${config.workspace} is untouched)`);
    });

  const ssh = new CommandClass("ssh")
    .description("open a shell in the VM as its user, in /workspace")
    .option("-f, --file <path>", FILE_HELP)
    .action(async (options) => {
      await runInVm(await projectConfig(options.file), ["bash", "-l"]);
    });

  const exec = new CommandClass("exec")
    .description("run a command in the VM as its user, in /workspace")
    .argument("<command...>", "the command and its arguments (after --)")
    .option("-f, --file <path>", FILE_HELP)
    .passThroughOptions()
    .addHelpText("after", "\nThe exit status is the command's.\n\nExample:\n  vm exec -- npm test")
    .action(async (command, options) => {
      // A login shell, so PATH includes what provisioning installed (~/.local/bin, ~/.cargo/bin).
      await runInVm(await projectConfig(options.file), [
        "bash",
        "-lc",
        '"$@"',
        "vm-exec",
        ...command,
      ]);
    });

  const logs = new CommandClass("logs")
    .description("show the VM's output")
    .option("-f, --follow", "keep following")
    .option("--file <path>", FILE_HELP)
    .action(async (options) => {
      const vm = await existingVm(await projectConfig(options.file));
      const code = await dockerInteractive([
        "logs",
        ...(options.follow ? ["-f"] : []),
        vm.container,
      ]);
      if (code !== 0) throw new CliError("", code);
    });

  const list = new CommandClass("list")
    .description("list the VMs on this machine, of every project")
    .option("--json", "print JSON for scripts")
    .action(async (options) => {
      const vms = await listVms();
      if (options.json) {
        console.log(JSON.stringify(vms, null, 2));
        return;
      }
      if (vms.length === 0) {
        console.log("no VMs (create one: vm init && vm create)");
        return;
      }
      const rows = vms.map((
        vm,
      ) => [vm.container, vm.state, vm.registry ? "yes" : "no", vm.configPath]);
      printTable(["VM", "STATE", "REGISTRY", "CONFIG"], rows);
    });

  const status = new CommandClass("status")
    .description("show the platform services and this project's VM, with its registry link")
    .option("--file <path>", FILE_HELP)
    .option("--json", "print JSON for scripts")
    .action(async (options) => {
      const report = await statusReport(options.file);
      if (options.json) console.log(JSON.stringify(report, null, 2));
      else printStatus(report);
    });

  return [create, start, stop, restart, destroy, ssh, exec, logs, list, status, provisionCommand];
}

/**
 * `vm create` of a VM that exists: started if it is not running (a VM that cannot start is an
 * error naming the way out, never "already exists"), and set up if its provisioning never
 * finished.
 */
async function finishExisting(config: VmConfig, vm: VmInfo, yes: boolean | undefined) {
  noteChangedConfig(config, vm);
  if (vm.state !== "running") {
    log(`vm: ${vm.container} exists (${vm.state}); starting it`);
    await startExisting(vm);
  }
  if (await isProvisioned(vm.container)) {
    console.log(`${vm.container} already exists and runs; vm ssh / vm exec -- CMD`);
    return;
  }
  log(`vm: ${vm.container} was not fully set up; setting it up now`);
  const registry = config.packageRegistry ? await registryForCreate(yes) : undefined;
  await provisionOrExplain(config, vm.container, userOf(vm), registry);
  printCreated(vm.container, registry);
}

async function provisionOrExplain(
  config: VmConfig,
  container: string,
  user: VmUser,
  registry: ServerRecord | undefined,
): Promise<void> {
  try {
    await provision(config, container, user, { registryPort: registry?.port, log });
  } catch (error) {
    log(
      `vm: ${container} was created but not fully set up; vm create finishes it, ` +
        "vm destroy removes it",
    );
    throw error;
  }
}

function printCreated(container: string, registry: ServerRecord | undefined): void {
  console.log(
    `created ${container}${
      registry ? `, installing through the registry on port ${registry.port}` : ""
    }`,
  );
  console.log("  enter it: vm ssh    run a command: vm exec -- CMD");
}

/** Starts an existing VM; one that cannot start is an error saying how to make it anew. */
async function startExisting(vm: VmInfo): Promise<void> {
  try {
    await startContainer(vm.container);
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    throw new CliError(`${error.message}; recreate it: vm destroy --force && vm create`);
  }
}

/** Says when vm.yaml no longer describes the container (only recreating applies it). */
function noteChangedConfig(config: VmConfig, vm: VmInfo): void {
  if (vm.digest && vm.digest !== configDigest(config)) {
    log(
      `vm: ${config.path} changed since ${vm.container} was created; ` +
        "to apply it: vm destroy --force && vm create",
    );
  }
}

/** The VM user of an existing VM, from its labels. */
function userOf(vm: VmInfo): VmUser {
  if (vm.ids) return vmUser(vm.user, vm.ids.uid, vm.ids.gid);
  // Created before the ids label, by a version that gave the VM user the host user's uid (a
  // fresh one for root): the account exists already, so only its name and home matter.
  return vmUser(vm.user, Deno.uid() || 1000, Deno.gid() || 1000);
}

/** The registry a new VM installs through: the running one, or one started now (asking first). */
async function registryForCreate(yes: boolean | undefined): Promise<ServerRecord | undefined> {
  const running = await runningRegistry();
  if (running) {
    const problem = unreachableFromContainers(running);
    if (problem) throw new CliError(problem);
    return running;
  }
  if (!yes && Deno.stdin.isTerminal()) {
    const answer = prompt("Start package registry? [Y/n]");
    if (answer && !/^y(es)?$/i.test(answer.trim())) {
      log(
        "vm: creating the VM without the registry; to add it later: vm pkg start && vm provision",
      );
      return undefined;
    }
  }
  log("vm: starting the package registry");
  const record = await startRegistryForVms();
  log(`vm: package registry running at ${record.url} (pid ${record.pid})`);
  return record;
}

/** Runs a command in the VM as its user in /workspace, on this terminal; its status is ours. */
async function runInVm(config: VmConfig, command: string[]): Promise<void> {
  const vm = await runningVm(config);
  const tty = Deno.stdin.isTerminal() && Deno.stdout.isTerminal() ? ["-it"] : ["-i"];
  const code = await dockerInteractive([
    "exec",
    ...tty,
    "--user",
    vm.user,
    // Docker takes HOME from the first account with the user's uid, which may not be this one.
    "--env",
    `HOME=${homeOf(vm.user)}`,
    "--workdir",
    "/workspace",
    vm.container,
    ...command,
  ]);
  if (code !== 0) throw new CliError("", code);
}

async function runningVm(config: VmConfig): Promise<VmInfo> {
  const vm = await existingVm(config);
  if (vm.state !== "running") {
    throw new CliError(`${vm.container} is ${vm.state} (start it: vm start)`);
  }
  return vm;
}

interface StatusReport {
  services: {
    pkgRegistry: {
      running: boolean;
      url?: string;
      port?: number;
      packagesCached?: number;
      /** The registry's traffic over every client: served, fetched upstream, the saving. */
      traffic?: RegistryStatus["totals"];
    };
  };
  vms: (VmInfo & { registryLink?: RegistryHealth })[];
}

async function statusReport(file: string | undefined): Promise<StatusReport> {
  const record = await runningRegistry();
  let packagesCached: number | undefined;
  let traffic: RegistryStatus["totals"] | undefined;
  if (record) {
    try {
      const response = await fetch(`${record.url}/-/status`, { signal: AbortSignal.timeout(3000) });
      const status = await response.json() as RegistryStatus;
      packagesCached = Object.values(status.ecosystems).reduce((n, e) => n + e.packages, 0);
      traffic = status.totals;
    } catch {
      packagesCached = undefined;
    }
  }
  const path = file ?? await findVmConfig(Deno.cwd());
  const config = path ? await loadVmConfig(path) : undefined;
  const all = await listVms();
  const vms = config ? all.filter((vm) => vm.container === containerName(config)) : all;
  const withLinks = await Promise.all(vms.map(async (vm) => {
    if (!vm.registry || !record || vm.state !== "running") return vm;
    return { ...vm, registryLink: await registryHealth(vm, record) };
  }));
  return {
    services: {
      pkgRegistry: record
        ? { running: true, url: record.url, port: record.port, packagesCached, traffic }
        : { running: false },
    },
    vms: withLinks,
  };
}

function printStatus(report: StatusReport): void {
  const registry = report.services.pkgRegistry;
  console.log("Platform services:");
  console.log(
    registry.running
      ? `  pkg-registry    ✓ Running (${registry.port})` +
        (registry.packagesCached !== undefined
          ? ` - ${registry.packagesCached} packages cached`
          : "")
      : "  pkg-registry    ✗ Not running (vm pkg start)",
  );
  if (registry.traffic && registry.traffic.savingRatio !== null) {
    console.log(`                  saved ${formatSaving(registry.traffic)}`);
  }
  for (const vm of report.vms) {
    console.log(`\n${vm.project || vm.container}:`);
    console.log(`  Status:     ${vm.state[0].toUpperCase()}${vm.state.slice(1)}`);
    if (!vm.registry) {
      console.log("  Registry:   not configured (package_registry: false)");
    } else if (vm.state !== "running") {
      console.log("  Registry:   – (VM not running)");
    } else if (!registry.running) {
      console.log("  Registry:   Disconnected (the registry is not running)");
    } else if (vm.registryLink && !vm.registryLink.connected) {
      console.log(`  Registry:   Unreachable (${vm.registryLink.error ?? "no answer"})`);
    } else if (vm.registryLink) {
      const ratio = vm.registryLink.hitRatio === undefined
        ? "no requests yet"
        : `${Math.round(vm.registryLink.hitRatio * 100)}% cache hits`;
      console.log(`  Registry:   Connected (${vm.registryLink.latencyMs} ms, ${ratio})`);
      const link = vm.registryLink;
      console.log(
        `  Traffic:    ${formatBytes(link.servedBytes)} from the registry, ` +
          `${formatBytes(link.upstreamBytes)} of it fetched upstream` +
          (link.savingRatio === null ? "" : ` (${formatPercent(link.savingRatio)} saved)`),
      );
    }
  }
  if (report.vms.length === 0) console.log("\nno VM for this project (vm create)");
}
