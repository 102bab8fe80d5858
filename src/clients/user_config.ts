// The user-level configuration files that route every package client of a VM user through the
// registry — written into the VM user's home at provisioning, so they hold for every shell,
// script and IDE in the VM, not only one shell's environment. Only the registry is configured:
// no public index beside it (pip's extra-index-url would merge indexes and invite dependency
// confusion), so inside a VM everything comes through the registry. When the registry does not
// answer, the VM's client wrappers (src/vm/client_wrappers.ts) override these files with the
// public registries for that one command.
import { cargoConfigToml } from "../registry/cargo/client_config.ts";
import { npmRegistryUrl, pypiIndexUrl } from "./routing.ts";

/** Path relative to the user's home → file content. */
export function userConfigFiles(baseUrl: string): Record<string, string> {
  const npm = npmRegistryUrl(baseUrl);
  const pypi = pypiIndexUrl(baseUrl);
  const host = new URL(baseUrl).hostname;
  const marker = "# Written by vm: packages install through the vm package registry.";
  return {
    // npm and pnpm
    ".npmrc": `${marker}\nregistry=${npm}\n`,
    // yarn berry (classic yarn reads .npmrc); plain http must be allowed for the host by name
    ".yarnrc.yml": `${marker}\nnpmRegistryServer: "${npm}"\nunsafeHttpWhitelist:\n  - "${host}"\n`,
    // pip: plain http needs trusted-host for anything but loopback
    ".config/pip/pip.conf": `${marker}\n[global]\nindex-url = ${pypi}\ntrusted-host = ${host}\n`,
    ".config/uv/uv.toml": `${marker}\n[[index]]\nurl = "${pypi}"\ndefault = true\n`,
    ".cargo/config.toml": cargoConfigToml(baseUrl),
  };
}
