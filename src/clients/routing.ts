// How each package client is pointed at the registry: the environment variables and arguments
// each ecosystem's descriptor declares for its commands (npm_config_registry, PIP_INDEX_URL,
// cargo's `--config`…). `vm pkg use`, `vm pkg exec`, project configuration and VM provisioning
// all build on these, so every way in routes the clients the same way.
import { basename } from "node:path";
import { type ClientCommand, type Ecosystem, registryAddress } from "../registry/ecosystem.ts";
import { ECOSYSTEMS } from "../registry/ecosystems.ts";

/** Every client command of the ecosystems, in the list's order. */
export function clientCommands(ecosystems: readonly Ecosystem[] = ECOSYSTEMS): ClientCommand[] {
  return ecosystems.flatMap((ecosystem) => ecosystem.clients.commands);
}

/** The clients `vm pkg use` defines shell functions for. */
export const ROUTED_CLIENTS: readonly string[] = clientCommands()
  .filter((command) => command.shellFunction).map((command) => command.name);

/** A client-facing base URL for a listen address: a wildcard address is reached on loopback. */
export function clientBaseUrl(host: string, port: number): string {
  const reachable = host === "0.0.0.0" || host === "::" || host === "" ? "127.0.0.1" : host;
  return `http://${reachable.includes(":") ? `[${reachable}]` : reachable}:${port}`;
}

function commandNamed(name: string): ClientCommand | undefined {
  return clientCommands().find((command) => command.name === name);
}

/** The environment one client needs to install through the registry at `baseUrl`. */
export function clientEnv(client: string, baseUrl: string): Record<string, string> {
  return commandNamed(client)?.env?.(registryAddress(baseUrl)) ?? {};
}

/**
 * The environment that sends one client to the public registries, overriding user-level
 * configuration that names the registry (VMs fall back to this when the host registry is down).
 */
export function publicClientEnv(client: string): Record<string, string> {
  return { ...commandNamed(client)?.publicEnv };
}

/** Every client's environment at once (for `vm pkg exec` of an arbitrary command). */
export function allClientsEnv(baseUrl: string): Record<string, string> {
  const registry = registryAddress(baseUrl);
  return Object.assign({}, ...clientCommands().map((command) => command.env?.(registry) ?? {}));
}

/**
 * The arguments to run `command` with so it goes through the registry: a client that takes its
 * routing as arguments (cargo's `--config`) gets them, after a first argument it keeps first
 * (`+toolchain`); others run with their arguments unchanged.
 */
export function routedArgs(command: string, args: string[], baseUrl: string): string[] {
  const client = commandNamed(basename(command));
  const routing = client?.args?.(registryAddress(baseUrl));
  if (!client || !routing) return args;
  const keep = client.keepsFirstArgWith;
  return keep && args[0]?.startsWith(keep)
    ? [args[0], ...routing, ...args.slice(1)]
    : [...routing, ...args];
}
