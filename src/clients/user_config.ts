// The user-level configuration files that route every package client of a VM user through the
// registry — written into the VM user's home at provisioning, so they hold for every shell,
// script and IDE in the VM, not only one shell's environment. Each ecosystem declares its files
// (its descriptor's `clients.userFiles`). Only the registry is configured: no public index beside
// it (pip's extra-index-url would merge indexes and invite dependency confusion), so inside a VM
// everything comes through the registry. When the registry does not answer, the VM's client
// wrappers (src/vm/client_wrappers.ts) override these files with the public registries for that
// one command.
import { type Ecosystem, registryAddress } from "../registry/ecosystem.ts";
import { ECOSYSTEMS } from "../registry/ecosystems.ts";

/** Path relative to the user's home → file content. */
export function userConfigFiles(
  baseUrl: string,
  ecosystems: readonly Ecosystem[] = ECOSYSTEMS,
): Record<string, string> {
  const registry = registryAddress(baseUrl);
  return Object.assign({}, ...ecosystems.map((each) => each.clients.userFiles?.(registry) ?? {}));
}
