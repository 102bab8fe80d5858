// How the registry is started from the CLI, by `vm pkg start` and by `vm create` when a VM wants
// the registry and none runs: each value from the flag, else the config file, else the default;
// in the background, the same `vm pkg start --foreground` re-run detached.
import { resolve } from "node:path";
import {
  configPath,
  loadSettings,
  type RegistrySettings,
  settingArgs,
  type SettingOverrides,
} from "../config/settings.ts";
import { dockerBridgeAddresses, isLoopbackAddress } from "./docker_bridge.ts";
import { startBackground } from "./lifecycle.ts";
import {
  advertisementFromEnv,
  REGISTRY_CONTAINER,
  startRegistryContainer,
} from "./registry_container.ts";
import { findServer } from "./server_record.ts";
import { serverPermissionFlags, upstreamsOf } from "./server_sandbox.ts";
import type { ServerRecord } from "./server_record.ts";
import { DEFAULT_HOST, DEFAULT_PORT } from "../registry/defaults.ts";
import type { RegistryOptions } from "../registry/server.ts";
import { AdjustableClock } from "../store/clock.ts";
import { CliError } from "../host/errors.ts";

/** The settings as this start uses them (options applied), and whether to listen on the bridge. */
export interface StartChoices extends RegistrySettings {
  bridge: boolean;
}

/**
 * option > config file > built-in default, each value through its key's one parser (see
 * settings.ts); for the data directory: --data, then $VM_PKG_DATA, then the file.
 */
export async function startChoices(
  overrides: SettingOverrides,
  { bridge = true } = {},
): Promise<StartChoices> {
  const dataDir = overrides.data_dir ?? Deno.env.get("VM_PKG_DATA");
  const settings = await loadSettings(configPath(), Deno.env.get, {
    ...overrides,
    // Relative on the command line or in the environment means from here.
    ...(dataDir ? { data_dir: resolve(dataDir) } : {}),
  });
  const { path: _path, fileExists: _exists, fromFile: _fromFile, ...values } = settings;
  return { ...values, bridge };
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
    upstreams: choices.upstreams,
    metadataTtlSeconds: choices.metadataTtlSeconds,
    metadataMaxStaleSeconds: choices.metadataMaxStaleSeconds,
    offline: choices.offline,
    maxCacheBytes: choices.maxCacheSizeBytes,
    maxDocumentBytes: choices.maxDocumentSizeBytes,
    maxFileBytes: choices.maxFileSizeBytes,
    maxConnections: choices.maxConnections ?? undefined,
    headerTimeoutSeconds: choices.headerTimeoutSeconds,
    idleTimeoutSeconds: choices.idleTimeoutSeconds,
    requestTimeoutSeconds: choices.requestTimeoutSeconds,
    logRequests: choices.logRequests,
    testClock: testClockFromEnv(),
    serverNames: publishedNames(),
  };
}

/**
 * In the --docker container the server listens on its own port, published on the host's: the
 * names clients use (127.0.0.1, the bridge, host.docker.internal) carry the published port.
 */
function publishedNames(): string[] {
  const advertised = advertisementFromEnv();
  if (!advertised) return [];
  return [...advertised.addresses, "localhost", "host.docker.internal"].map((address) =>
    `${address.includes(":") ? `[${address}]` : address}:${advertised.port}`
  );
}

/**
 * VM_PKG_TEST_CLOCK=1 gives the server a clock that tests move forward (POST /-/test/clock, with
 * the token), so days of use pass in seconds. The variable passes from `vm pkg start` and
 * `vm create` to the background server like any other, so tests start it the way users do.
 */
function testClockFromEnv(): AdjustableClock | undefined {
  return Deno.env.get("VM_PKG_TEST_CLOCK") === "1" ? new AdjustableClock() : undefined;
}

/**
 * Starts the registry detached; it outlives this process. From source it runs with the
 * narrowest permissions it works with (serverPermissionFlags): its data dir, its config file,
 * the addresses it listens on and the upstreams these choices configure.
 */
export async function launchInBackground(
  choices: StartChoices,
): Promise<{ record: ServerRecord; logFile: string }> {
  assertPortFree(choices.host, choices.port);
  const args = [...settingArgs(choices), ...(choices.bridge ? [] : ["--no-bridge"])];
  try {
    return await startBackground(choices.dataDir, args, backgroundPermissions(choices));
  } catch (error) {
    throw new CliError(`could not start the registry: ${(error as Error).message}`);
  }
}

/**
 * The background server's permissions, from the same options it computes from these choices:
 * what it listens on (the bridge address included) and where it fetches from.
 */
function backgroundPermissions(choices: StartChoices): string[] {
  const options = registryOptionsFor(choices);
  const bridge = options.alsoListenOn ?? [];
  return serverPermissionFlags({
    dataDir: options.dataDir,
    configFile: configPath(),
    listen: [options.hostname ?? DEFAULT_HOST, ...bridge],
    port: options.port ?? DEFAULT_PORT,
    upstreams: upstreamsOf(options),
    // Where there is no bridge now, its lookup in the server fails quietly and finds none.
    findsBridge: bridge.length > 0,
  });
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
      // The container chooses its own address, port and data path.
      serverArgs: settingArgs(choices, ["host", "port", "data_dir"]),
      upstreams: upstreamsOf(choices),
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
