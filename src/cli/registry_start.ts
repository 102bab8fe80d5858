// How the registry is started from the CLI, by `vm pkg start` and by `vm create` when a VM wants
// the registry and none runs: each value from the flag, else the config file, else the default;
// in the background, the same `vm pkg start --foreground` re-run detached.
import { loadSettings, type RegistrySettings, resolveDataDir } from "../config/settings.ts";
import { dockerBridgeAddresses, isLoopbackAddress } from "../daemon/docker_bridge.ts";
import { startBackground } from "../daemon/lifecycle.ts";
import { REGISTRY_CONTAINER, startRegistryContainer } from "../daemon/registry_container.ts";
import { findServer } from "../daemon/server_record.ts";
import type { ServerRecord } from "../daemon/server_record.ts";
import type { RegistryOptions } from "../registry/server.ts";
import { CliError } from "./errors.ts";

export interface StartFlags {
  port?: number;
  host?: string;
  data?: string;
  npmUpstream?: string;
  pypiUpstream?: string;
  pypiFilesUpstream?: string;
  cargoUpstream?: string;
  cargoFilesUpstream?: string;
  ttl?: number;
  logRequests?: boolean;
  /** Also listen on the Docker bridge (default true; --no-bridge). */
  bridge?: boolean;
  /** Bytes; null is no limit. */
  maxCacheSize?: number | null;
}

/** The settings as this start uses them (flags applied), and whether to listen on the bridge. */
export interface StartChoices extends RegistrySettings {
  bridge: boolean;
}

/** flag > config file > built-in default (the settings hold the file's value or the default). */
export async function startChoices(flags: StartFlags): Promise<StartChoices> {
  const settings = await loadSettings();
  return {
    port: flags.port ?? settings.port,
    host: flags.host ?? settings.host,
    dataDir: await resolveDataDir(flags.data),
    npmUpstream: flags.npmUpstream ?? settings.npmUpstream,
    pypiUpstream: flags.pypiUpstream ?? settings.pypiUpstream,
    pypiFilesUpstream: flags.pypiFilesUpstream ?? settings.pypiFilesUpstream,
    cargoUpstream: flags.cargoUpstream ?? settings.cargoUpstream,
    cargoFilesUpstream: flags.cargoFilesUpstream ?? settings.cargoFilesUpstream,
    metadataTtlSeconds: flags.ttl ?? settings.metadataTtlSeconds,
    logRequests: flags.logRequests ?? settings.logRequests,
    bridge: flags.bridge ?? true,
    maxCacheSizeBytes: flags.maxCacheSize !== undefined
      ? flags.maxCacheSize
      : settings.maxCacheSizeBytes,
  };
}

/**
 * What the server process runs with. A registry on loopback also listens on the Docker bridge
 * (when there is one), so containers reach it as host.docker.internal; one bound to another
 * address (or every address) was placed there on purpose and gets nothing extra.
 */
export function registryOptionsFor(
  choices: StartChoices,
): RegistryOptions & { logRequests: boolean } {
  return {
    dataDir: choices.dataDir,
    hostname: choices.host,
    alsoListenOn: choices.bridge && isLoopbackAddress(choices.host) ? dockerBridgeAddresses() : [],
    port: choices.port,
    npmUpstream: choices.npmUpstream,
    pypiUpstream: choices.pypiUpstream,
    pypiFilesUpstream: choices.pypiFilesUpstream,
    cargoUpstream: choices.cargoUpstream,
    cargoFilesUpstream: choices.cargoFilesUpstream,
    metadataTtlSeconds: choices.metadataTtlSeconds,
    maxCacheBytes: choices.maxCacheSizeBytes,
    logRequests: choices.logRequests,
  };
}

/** Starts the registry detached; it outlives this process. */
export async function launchInBackground(
  choices: StartChoices,
): Promise<{ record: ServerRecord; logFile: string }> {
  assertPortFree(choices.host, choices.port);
  const args = [
    `--port=${choices.port}`,
    `--host=${choices.host}`,
    `--data=${choices.dataDir}`,
    ...serverArgs(choices),
    ...(choices.bridge ? [] : ["--no-bridge"]),
  ];
  try {
    return await startBackground(choices.dataDir, args);
  } catch (error) {
    throw new CliError(`could not start the registry: ${(error as Error).message}`);
  }
}

function assertPortFree(hostname: string, port: number): void {
  try {
    const listener = Deno.listen({ hostname, port });
    listener.close();
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) {
      throw new CliError(
        `port ${port} on ${hostname} is already in use (choose another with --port)`,
      );
    }
    if (error instanceof Deno.errors.AddrNotAvailable) {
      throw new CliError(`cannot listen on ${hostname}: no such address on this machine`);
    }
    throw error;
  }
}

/** `vm pkg start --docker`: the registry in a container; waits until it answers. */
export async function launchInDocker(choices: StartChoices, image: string): Promise<ServerRecord> {
  assertPortFree(choices.host, choices.port);
  try {
    await startRegistryContainer({
      image,
      dataDir: choices.dataDir,
      port: choices.port,
      serverArgs: serverArgs(choices),
    });
  } catch (error) {
    throw new CliError(`could not start the registry container: ${(error as Error).message}`);
  }
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const found = await findServer(choices.dataDir);
    if (found.state === "running") return found.record;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new CliError(
    `the registry container did not answer within 60 s (docker logs ${REGISTRY_CONTAINER})`,
  );
}

/** The `pkg start` arguments that carry the choices other than where it listens and its data. */
function serverArgs(choices: StartChoices): string[] {
  return [
    `--npm-upstream=${choices.npmUpstream}`,
    `--pypi-upstream=${choices.pypiUpstream}`,
    `--pypi-files-upstream=${choices.pypiFilesUpstream}`,
    `--cargo-upstream=${choices.cargoUpstream}`,
    `--cargo-files-upstream=${choices.cargoFilesUpstream}`,
    `--ttl=${choices.metadataTtlSeconds}`,
    `--max-cache-size=${choices.maxCacheSizeBytes ?? "unlimited"}`,
    choices.logRequests ? "--log-requests" : "--no-log-requests",
  ];
}
