// `vm pkg start --docker`: the registry itself in a container, for hosts where people prefer
// Docker to manage it. The container runs this same `vm` (the binary, or deno with the source,
// mounted read-only at the same paths), keeps its data in the host data dir, publishes the same
// port on loopback and on the Docker bridge, and restarts with Docker (unless stopped). From
// source it runs with the same narrow permissions as the background server, paths as the
// container sees them; a compiled binary keeps its compiled-in ones (see server_sandbox.ts).
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { dockerBridgeAddresses } from "./docker_bridge.ts";
import { runsFromSource, selfCommand } from "./self_command.ts";
import { serverPermissionFlags } from "./server_sandbox.ts";
import { docker } from "../host/docker_cli.ts";

export const REGISTRY_CONTAINER = "vm-pkg-registry";
const CONTAINER_PORT = 3080;
const CONTAINER_DATA = "/data";
/** There is none in the container: every setting comes as an option. */
const CONTAINER_CONFIG = "/etc/vm/pkg.yaml";

/** What the server in the container writes into its record for the host's CLI. */
export interface ContainerAdvertisement {
  url: string;
  hostname: string;
  port: number;
  addresses: string[];
  container: string;
}

export interface ContainerStart {
  image: string;
  dataDir: string;
  port: number;
  /** `pkg start` arguments besides host, port, data and foreground (upstreams, ttl, logging). */
  serverArgs: string[];
  /** The upstream URLs those arguments configure: the only hosts the server may fetch from. */
  upstreams: string[];
}

export async function startRegistryContainer(options: ContainerStart): Promise<void> {
  const addresses = ["127.0.0.1", ...dockerBridgeAddresses()];
  const advertise: ContainerAdvertisement = {
    url: `http://127.0.0.1:${options.port}`,
    hostname: "127.0.0.1",
    port: options.port,
    addresses,
    container: REGISTRY_CONTAINER,
  };
  const permissions = serverPermissionFlags({
    dataDir: CONTAINER_DATA,
    configFile: CONTAINER_CONFIG,
    listen: ["0.0.0.0"],
    port: CONTAINER_PORT,
    upstreams: options.upstreams,
    findsBridge: false,
  });
  const { command, args } = selfCommand([
    "pkg",
    "start",
    "--foreground",
    "--no-config",
    "--no-bridge",
    "--host=0.0.0.0",
    `--port=${CONTAINER_PORT}`,
    `--data=${CONTAINER_DATA}`,
    ...options.serverArgs,
  ], permissions);
  const run = [
    "run",
    "--detach",
    "--name",
    REGISTRY_CONTAINER,
    "--restart",
    "unless-stopped",
    "--label",
    "dev.vm.managed=registry",
    "--volume",
    `${options.dataDir}:${CONTAINER_DATA}`,
    "--env",
    `VM_PKG_ADVERTISE=${JSON.stringify(advertise)}`,
    "--env",
    `VM_PKG_CONFIG=${CONTAINER_CONFIG}`,
    ...addresses.flatMap((address) => [
      "--publish",
      `${address}:${options.port}:${CONTAINER_PORT}`,
    ]),
    ...runtimeMounts(command),
    ...trustEnv(),
    options.image,
    command,
    ...args,
  ];
  await removeContainer(REGISTRY_CONTAINER);
  const result = await docker(run);
  if (result.code !== 0) throw new Error(lastLine(result.stderr));
}

/** The advertisement a server in the container was started with (from its environment). */
export function advertisementFromEnv(): ContainerAdvertisement | undefined {
  const text = Deno.env.get("VM_PKG_ADVERTISE");
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export async function stopRegistryContainer(name: string, timeoutMs: number): Promise<void> {
  await docker(["stop", "--time", String(Math.ceil(timeoutMs / 1000)), name]);
  await removeContainer(name);
}

export async function isContainerRunning(name: string): Promise<boolean> {
  const result = await docker(["container", "inspect", "-f", "{{.State.Running}}", name])
    .catch(() => ({ code: 1, stdout: "", stderr: "" }));
  return result.code === 0 && result.stdout.trim() === "true";
}

/**
 * The files the container needs to run this same `vm`: the executable (the compiled binary, or
 * deno), and from source also the source tree and Deno's cache (npm packages), at the same paths.
 */
function runtimeMounts(executable: string): string[] {
  const mounts = [`${executable}:${executable}:ro`, ...trustMounts()];
  if (runsFromSource(executable)) {
    const root = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
    mounts.push(`${root}:${root}:ro`);
    const denoDir = Deno.env.get("DENO_DIR") ??
      join(
        Deno.env.get("XDG_CACHE_HOME") ?? join(Deno.env.get("HOME") ?? "/root", ".cache"),
        "deno",
      );
    mounts.push(`${denoDir}:/deno-dir:ro`);
    return [...mounts.flatMap((mount) => ["--volume", mount]), "--env", "DENO_DIR=/deno-dir"];
  }
  return mounts.flatMap((mount) => ["--volume", mount]);
}

/**
 * The host's extra certificate authorities (a company proxy's, say), so the registry in the
 * container trusts the same upstream connections the host does.
 */
function trustMounts(): string[] {
  const mounts: string[] = [];
  for (const name of ["SSL_CERT_FILE", "DENO_CERT"]) {
    const path = Deno.env.get(name);
    if (path?.startsWith("/")) mounts.push(`${path}:${path}:ro`);
  }
  return mounts;
}

function trustEnv(): string[] {
  const env = ["SSL_CERT_FILE", "DENO_CERT"].flatMap((name) => {
    const value = Deno.env.get(name);
    return value ? ["--env", `${name}=${value}`] : [];
  });
  // Deno reads the system store (the mounted bundle) only when told to.
  const store = Deno.env.get("DENO_TLS_CA_STORE") ?? "mozilla,system";
  return [...env, "--env", `DENO_TLS_CA_STORE=${store}`];
}

async function removeContainer(name: string): Promise<void> {
  await docker(["rm", "--force", name]).catch(() => {});
}

function lastLine(text: string): string {
  return text.trim().split("\n").pop() || "docker failed";
}
