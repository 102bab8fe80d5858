// The real Docker engine for tests: whether it can be used (and why not), the CLI as a child
// process, `--internal` networks (a container on one reaches the host's bridge gateway but
// nothing outside, which proves a VM gets its packages only through the host registry), and
// cleanup of everything a test created, found by its `vm.test=<id>` label.
//
// The base image comes from scripts/build_base_image.sh (nothing can be pulled here). .ci/run
// installs and starts Docker, builds the image and sets VM_REQUIRE_DOCKER=1: there a Docker test
// must fail, not skip, when Docker is unusable (see dockerRequired()).

import { selfCommand } from "../../src/daemon/self_command.ts";
import type { RegistryStatus } from "../../src/registry/server.ts";
import { runProcess } from "./process.ts";

export const BASE_IMAGE = "vm-base:bookworm";

/** The label every container, network and volume a test creates carries: `vm.test=<id>`. */
export const TEST_LABEL = "vm.test";

export interface DockerResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface DockerOptions {
  /** Text written to docker's stdin (e.g. a script for `docker exec -i`). */
  stdin?: string;
  /** Kill docker after this long; the result then has code 124 and says so in stderr. */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 120_000;

/**
 * Runs `docker args…` and captures its output. Never throws for a failing command: a missing CLI
 * gives code 127, a timeout code 124, both with the reason in stderr.
 */
export async function docker(args: string[], options: DockerOptions = {}): Promise<DockerResult> {
  const abort = new AbortController();
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  try {
    const child = new Deno.Command("docker", {
      args,
      stdin: options.stdin === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
      signal: abort.signal,
    }).spawn();
    if (options.stdin !== undefined) {
      const writer = child.stdin.getWriter();
      try {
        await writer.write(new TextEncoder().encode(options.stdin));
        await writer.close();
      } catch {
        // docker exited without reading all of stdin: its status and stderr say why
      }
    }
    const output = await child.output();
    const decoder = new TextDecoder();
    const result = {
      code: output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
    };
    if (abort.signal.aborted) {
      return {
        ...result,
        code: 124,
        stderr: `${result.stderr}docker ${args[0] ?? ""} did not finish in ${timeoutMs} ms\n`,
      };
    }
    return result;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      return { code: 127, stdout: "", stderr: "docker: command not found\n" };
    }
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** Like docker(), but a non-zero exit throws, naming what was being done and Docker's message. */
export async function dockerOk(
  args: string[],
  what: string,
  options: DockerOptions = {},
): Promise<string> {
  const result = await docker(args, options);
  if (result.code !== 0) {
    throw new Error(`${what}: docker ${args.join(" ")} exited ${result.code}: ${lastLine(result)}`);
  }
  return result.stdout;
}

function lastLine(result: DockerResult): string {
  const lines = (result.stderr || result.stdout).trim().split("\n");
  return lines[lines.length - 1] || "(no output)";
}

/** Whether Docker tests can run here: CLI present, engine answering, base image built. */
export async function dockerAvailable(
  image = BASE_IMAGE,
): Promise<{ ok: true } | { ok: false; reason: string }> {
  const cli = await docker(["--version"], { timeoutMs: 10_000 });
  if (cli.code !== 0) {
    return { ok: false, reason: "no docker CLI on PATH (apt-get install -y docker.io)" };
  }
  const engine = await docker(["info", "--format", "{{.ServerVersion}}"], { timeoutMs: 20_000 });
  if (engine.code !== 0 || engine.stdout.trim() === "") {
    return { ok: false, reason: `no Docker engine answers (start dockerd): ${lastLine(engine)}` };
  }
  const base = await docker(["image", "inspect", "--format", "{{.Id}}", image], {
    timeoutMs: 20_000,
  });
  if (base.code !== 0) {
    return {
      ok: false,
      reason: `the base image ${image} is missing (build it: scripts/build_base_image.sh)`,
    };
  }
  return { ok: true };
}

/**
 * Whether a Docker test file runs here. `skip` where Docker is unusable and not required (the
 * reason is printed once); where it is required (CI) the tests run and fail with the reason
 * (`available`), they do not skip.
 */
export async function dockerTestGate(
  what: string,
): Promise<{ skip: boolean; available: Awaited<ReturnType<typeof dockerAvailable>> }> {
  const available = await dockerAvailable();
  const skip = !available.ok && !dockerRequired();
  if (!available.ok && skip) console.warn(`skipping ${what}: ${available.reason}`);
  return { skip, available };
}

/**
 * True where Docker tests must run (CI sets VM_REQUIRE_DOCKER=1): a test that finds Docker
 * unusable fails with dockerAvailable()'s reason instead of skipping.
 */
export function dockerRequired(): boolean {
  return ["1", "true", "yes"].includes((Deno.env.get("VM_REQUIRE_DOCKER") ?? "").toLowerCase());
}

/** A fresh id for one test's Docker objects (names and the `vm.test` label). */
export function newTestId(): string {
  return `t${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
}

/** `--label vm.test=<id>`, for `docker run`/`create`/`network create`/`volume create`. */
export function testLabelArgs(testId: string): string[] {
  return ["--label", `${TEST_LABEL}=${testId}`];
}

/**
 * Creates an `--internal` bridge network: containers on it reach each other and the host (the
 * bridge gateway, through `--add-host=host.docker.internal:host-gateway`), but no route leads
 * outside, and names outside do not resolve. Labelled `vm.test=<testId>` when a test id is given.
 * Returns the network's id.
 */
export async function createInternalNetwork(
  name: string,
  options: { testId?: string } = {},
): Promise<string> {
  const labels = options.testId ? testLabelArgs(options.testId) : [];
  const out = await dockerOk(
    ["network", "create", "--driver", "bridge", "--internal", ...labels, name],
    `creating the internal network ${name}`,
  );
  return out.trim();
}

/** Removes a network; one that is already gone is fine. */
export async function removeNetwork(name: string): Promise<void> {
  const result = await docker(["network", "rm", name]);
  if (result.code !== 0 && !/not found|no such network/i.test(result.stderr)) {
    throw new Error(`removing the network ${name}: ${lastLine(result)}`);
  }
}

interface NetworkInspect {
  IPAM?: { Config?: { Subnet?: string; Gateway?: string }[] | null };
  Options?: Record<string, string> | null;
}

/**
 * The IPv4 address of the default bridge (docker0), e.g. 172.17.0.1: where
 * `host.docker.internal:host-gateway` points, so a host server a container should reach binds
 * there. Read from `docker network inspect bridge`; Debian's engine (20.10) leaves the default
 * bridge's Gateway empty, so then the address of the bridge interface it names is used.
 */
export async function bridgeGateway(): Promise<string> {
  const out = await dockerOk(
    ["network", "inspect", "bridge", "--format", "{{json .}}"],
    "reading the default bridge network",
  );
  const network = JSON.parse(out) as NetworkInspect;
  const isIPv4 = (address: string | undefined): address is string =>
    !!address && /^\d{1,3}(\.\d{1,3}){3}$/.test(address);
  const gateway = (network.IPAM?.Config ?? []).map((config) => config.Gateway).find(isIPv4);
  if (gateway) return gateway;

  const bridgeName = network.Options?.["com.docker.network.bridge.name"] ?? "docker0";
  const address = Deno.networkInterfaces().find((iface) =>
    iface.name === bridgeName && iface.family === "IPv4"
  )?.address;
  if (isIPv4(address)) return address;
  throw new Error(
    `the default bridge network has no IPv4 gateway and ${bridgeName} has no IPv4 address`,
  );
}

/**
 * Removes every container (with its anonymous volumes), network and volume labelled
 * `vm.test=<testId>`. Safe to call twice; meant for a test's `finally`.
 */
export async function removeTestObjects(testId: string): Promise<void> {
  const filter = ["--filter", `label=${TEST_LABEL}=${testId}`];
  const problems: string[] = [];
  const ids = async (args: string[]) => {
    const result = await docker([...args, "--quiet", ...filter]);
    if (result.code !== 0) problems.push(`docker ${args.join(" ")}: ${lastLine(result)}`);
    return result.stdout.split("\n").map((line) => line.trim()).filter(Boolean);
  };

  const containers = await ids(["container", "ls", "--all"]);
  if (containers.length > 0) {
    const result = await docker(["container", "rm", "--force", "--volumes", ...containers]);
    if (result.code !== 0) problems.push(`removing containers: ${lastLine(result)}`);
  }
  const networks = await ids(["network", "ls"]);
  if (networks.length > 0) {
    const result = await docker(["network", "rm", ...networks]);
    if (result.code !== 0) problems.push(`removing networks: ${lastLine(result)}`);
  }
  const volumes = await ids(["volume", "ls"]);
  if (volumes.length > 0) {
    const result = await docker(["volume", "rm", "--force", ...volumes]);
    if (result.code !== 0) problems.push(`removing volumes: ${lastLine(result)}`);
  }
  if (problems.length > 0) {
    throw new Error(`cleaning up Docker objects of ${testId}:\n${problems.join("\n")}`);
  }
}

/**
 * Creates a plain bridge network labelled `vm.test=<testId>`: unlike an `--internal` one, its
 * containers reach the outside (e.g. the public registries when a VM falls back to them).
 */
export async function createNetwork(name: string, testId: string): Promise<void> {
  await dockerOk(
    ["network", "create", "--driver", "bridge", ...testLabelArgs(testId), name],
    `creating the network ${name}`,
  );
}

/** Where Debian's update-ca-certificates picks up extra authorities, on the host and in a VM. */
const EXTRA_CA_DIR = "/usr/local/share/ca-certificates";

/**
 * Makes a container trust the extra certificate authorities this host trusts (the ones in
 * /usr/local/share/ca-certificates, e.g. of a TLS-inspecting proxy between this machine and the
 * public registries), so what works from the host over https works from the container. A host
 * without extra authorities changes nothing. Returns how many certificates were added.
 */
export async function trustHostCertificates(container: string): Promise<number> {
  const certificates: string[] = [];
  try {
    for await (const entry of Deno.readDir(EXTRA_CA_DIR)) {
      if (entry.isFile && entry.name.endsWith(".crt")) certificates.push(entry.name);
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  if (certificates.length === 0) return 0;
  for (const name of certificates) {
    await dockerOk(
      ["cp", `${EXTRA_CA_DIR}/${name}`, `${container}:${EXTRA_CA_DIR}/${name}`],
      `copying ${name} into ${container}`,
    );
  }
  await dockerOk(
    ["exec", "--user", "root", container, "update-ca-certificates"],
    `updating the certificates of ${container}`,
  );
  return certificates.length;
}

/** The `vm` CLI as a user runs it, from a project directory, with the registry's dirs in `env`. */
export function vmCli(env: Record<string, string>) {
  return async (cwd: string, args: string[]) => {
    const { command, args: full } = selfCommand(args);
    const started = performance.now();
    const result = await runProcess(command, full, { cwd, env });
    return { ...result, ms: Math.round(performance.now() - started) };
  };
}

/** The counters of the registry `vm` started with this data dir (its server record says where). */
export async function registryStatus(dataDir: string): Promise<RegistryStatus> {
  const record = JSON.parse(await Deno.readTextFile(`${dataDir}/server.json`));
  const response = await fetch(`${record.url}/-/status`);
  return await response.json();
}
