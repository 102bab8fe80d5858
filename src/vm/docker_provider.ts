// VMs as Docker containers, driven through the Docker CLI. A VM is one long-running container
// named `vm-<project>`, labelled with its project and vm.yaml so every command finds it again;
// each operation is safe to repeat (creating what exists, stopping what is stopped, removing
// what is gone: all succeed with a note).
import { createHash } from "node:crypto";
import type { VmConfig } from "./config.ts";
import { docker, dockerOk } from "../host/docker_cli.ts";
import { formatIds, parseIds, type VmUser } from "./vm_user.ts";

export const LABELS = {
  managed: "dev.vm.managed",
  project: "dev.vm.project",
  config: "dev.vm.config",
  registry: "dev.vm.registry",
  user: "dev.vm.user",
  /** The VM user's "uid:gid" (the workspace owner's on the host). */
  ids: "dev.vm.ids",
  /** configDigest() of the vm.yaml the container was created from. */
  digest: "dev.vm.digest",
} as const;

export interface VmInfo {
  container: string;
  project: string;
  configPath: string;
  user: string;
  /** The VM user's uid and gid, when the container records them. */
  ids?: { uid: number; gid: number };
  /** Docker's state: created, running, paused, restarting, exited, dead. */
  state: string;
  image: string;
  /** The VM was set up to install through the host registry. */
  registry: boolean;
  /** Its IP on each network it is attached to. */
  addresses: string[];
  /** Whether it has ever run: a container whose first start failed has not. */
  everStarted: boolean;
  /** configDigest() of the vm.yaml it was created from (absent on older VMs). */
  digest?: string;
}

export function containerName(config: VmConfig): string {
  return `vm-${config.name}`;
}

/** The VM's container, or undefined when there is none. */
export async function inspectVm(container: string): Promise<VmInfo | undefined> {
  const result = await docker(["container", "inspect", container]);
  if (result.code !== 0) return undefined;
  const [data] = JSON.parse(result.stdout);
  return toInfo(data);
}

/** Every VM on this Docker engine, of any project. */
export async function listVms(): Promise<VmInfo[]> {
  const ids = await dockerOk(
    ["ps", "-a", "-q", "--filter", `label=${LABELS.managed}=true`],
    "listing VMs",
  );
  const list = ids.stdout.trim().split("\n").filter(Boolean);
  if (list.length === 0) return [];
  const result = await dockerOk(["container", "inspect", ...list], "listing VMs");
  return (JSON.parse(result.stdout) as unknown[]).map(toInfo)
    .sort((a, b) => a.container.localeCompare(b.container));
}

/**
 * A digest of what a container is made from (everything in vm.yaml but the package lists, which
 * `vm provision` applies to a VM as it is): when it differs, only recreating the VM applies it.
 */
export function configDigest(config: VmConfig): string {
  const made = {
    name: config.name,
    image: config.image,
    workspace: config.workspace,
    user: config.user,
    ports: config.ports,
    environment: config.environment,
    network: config.network ?? null,
    packageRegistry: config.packageRegistry,
  };
  return createHash("sha256").update(JSON.stringify(made)).digest("hex").slice(0, 16);
}

export interface CreateOptions {
  /** The port of the host registry, when the VM installs through it. */
  registryPort?: number;
  user: VmUser;
}

export async function createContainer(config: VmConfig, options: CreateOptions): Promise<void> {
  const args = [
    "create",
    "--name",
    containerName(config),
    "--hostname",
    config.name.replace(/[^a-z0-9-]/g, "-").slice(0, 63),
    "--init",
    "--label",
    `${LABELS.managed}=true`,
    "--label",
    `${LABELS.project}=${config.name}`,
    "--label",
    `${LABELS.config}=${config.path}`,
    "--label",
    `${LABELS.user}=${options.user.name}`,
    "--label",
    `${LABELS.ids}=${formatIds(options.user)}`,
    "--label",
    `${LABELS.digest}=${configDigest(config)}`,
    "--label",
    `${LABELS.registry}=${options.registryPort !== undefined}`,
    "--volume",
    `${config.workspace}:/workspace`,
    "--workdir",
    "/workspace",
    // Resolves to the bridge gateway, where the registry listens besides loopback.
    "--add-host=host.docker.internal:host-gateway",
  ];
  if (config.network) args.push("--network", config.network);
  for (const port of config.ports) {
    args.push("--publish", `127.0.0.1:${port.host}:${port.container}/${port.protocol}`);
  }
  for (const [name, value] of Object.entries(config.environment)) {
    args.push("--env", `${name}=${value}`);
  }
  args.push(config.image, "sh", "-c", 'echo "vm: $(hostname) is up"; exec sleep infinity');
  await dockerOk(args, `creating ${containerName(config)}`);
}

export async function startContainer(container: string): Promise<void> {
  await dockerOk(["start", container], `starting ${container}`);
}

export async function stopContainer(container: string, timeoutSeconds = 10): Promise<void> {
  await dockerOk(["stop", "--time", String(timeoutSeconds), container], `stopping ${container}`);
}

export async function removeContainer(container: string): Promise<void> {
  await dockerOk(["rm", "--force", "--volumes", container], `removing ${container}`);
}

/** Runs a command in the VM and captures its output. */
export function execCaptured(
  container: string,
  command: string[],
  options: { user?: string; stdin?: string } = {},
) {
  const args = ["exec", ...(options.stdin !== undefined ? ["-i"] : [])];
  if (options.user) args.push("--user", options.user);
  return docker([...args, container, ...command], { stdin: options.stdin });
}

// deno-lint-ignore no-explicit-any
function toInfo(data: any): VmInfo {
  const labels: Record<string, string> = data.Config?.Labels ?? {};
  const networks: Record<string, { IPAddress?: string }> = data.NetworkSettings?.Networks ?? {};
  return {
    container: String(data.Name ?? "").replace(/^\//, ""),
    project: labels[LABELS.project] ?? "",
    configPath: labels[LABELS.config] ?? "",
    user: labels[LABELS.user] ?? "root",
    state: data.State?.Status ?? "unknown",
    image: data.Config?.Image ?? "",
    ids: parseIds(labels[LABELS.ids]),
    registry: labels[LABELS.registry] === "true",
    addresses: Object.values(networks).map((n) => n.IPAddress ?? "").filter(Boolean),
    // Docker's zero time (0001-01-01T00:00:00Z) for a container that never started.
    everStarted: !String(data.State?.StartedAt ?? "").startsWith("0001-"),
    digest: labels[LABELS.digest] || undefined,
  };
}
