// The cargo configuration that makes this registry replace crates.io. Source replacement cannot
// be set through environment variables, so it is written to a config file (or passed with
// `--config`); `vm pkg use`, `vm pkg exec`, project configuration and VM provisioning all use
// `cargoClients`, built on these functions.
import { join } from "node:path";
import type { ClientSetup } from "../ecosystem.ts";

export const CARGO_SOURCE_NAME = "vm";

/** `registryUrl` is the server's base URL, e.g. http://127.0.0.1:3080 */
export function cargoSparseIndexUrl(registryUrl: string): string {
  return `sparse+${registryUrl.replace(/\/+$/, "")}/cargo/index/`;
}

export function cargoConfigToml(registryUrl: string): string {
  return [
    "# Written by vm: crates.io is fetched through the vm package registry.",
    "[source.crates-io]",
    `replace-with = "${CARGO_SOURCE_NAME}"`,
    "",
    `[source.${CARGO_SOURCE_NAME}]`,
    `registry = "${cargoSparseIndexUrl(registryUrl)}"`,
    "",
  ].join("\n");
}

/** The same configuration as `--config` arguments, for one cargo command. */
export function cargoConfigArgs(registryUrl: string): string[] {
  return [
    "--config",
    `source.crates-io.replace-with="${CARGO_SOURCE_NAME}"`,
    "--config",
    `source.${CARGO_SOURCE_NAME}.registry="${cargoSparseIndexUrl(registryUrl)}"`,
  ];
}

/**
 * The replacement plus the same index as the named registry `vm`, which `cargo publish
 * --registry vm`, `cargo yank --registry vm` and `cargo search --registry vm` need (they take a
 * registry, not a source). Naming the source and the registry alike is allowed (checked with
 * cargo 1.95); dependencies of what is published still come through the replaced crates.io, and
 * consumers with only `cargoConfigToml` find the published crates in the same index.
 */
export function cargoPublishConfigToml(registryUrl: string): string {
  return [
    cargoConfigToml(registryUrl),
    `[registries.${CARGO_SOURCE_NAME}]`,
    `index = "${cargoSparseIndexUrl(registryUrl)}"`,
    "",
  ].join("\n");
}

/** The public crates.io sparse index, where cargo goes when no registry is in the way. */
export const PUBLIC_CARGO_INDEX = "sparse+https://index.crates.io/";

/**
 * cargo's `--config` arguments that send crates.io to index.crates.io even when a config file
 * replaces it with the registry. A replacement cannot be removed, only replaced again, and a source
 * at index.crates.io is refused while crates.io itself is that sparse index ("defines source
 * registry `crates-io`, but that source is already defined"); with crates.io's documented
 * `protocol = "git"` its identity is the git index, so the sparse index may replace it. Lockfiles
 * are unaffected: a replaced crates.io is recorded as crates.io (checked with cargo 1.96).
 */
export function publicCargoConfigArgs(): string[] {
  return [
    "--config",
    'registries.crates-io.protocol="git"',
    "--config",
    'source.crates-io.replace-with="public-crates-io"',
    "--config",
    `source.public-crates-io.registry="${PUBLIC_CARGO_INDEX}"`,
  ];
}

export const cargoClients: ClientSetup = {
  commands: [{
    name: "cargo",
    shellFunction: true,
    args: (registry) => cargoConfigArgs(registry.baseUrl),
    // `cargo +nightly fetch`: the toolchain must stay first.
    keepsFirstArgWith: "+",
    publicArgs: publicCargoConfigArgs(),
  }],
  userFiles: (registry) => ({ ".cargo/config.toml": cargoConfigToml(registry.baseUrl) }),
  projectFiles: async (dir, registry, probe) => {
    if (!await probe.exists(join(dir, "Cargo.toml"))) return [];
    return [{
      path: join(dir, ".cargo", "config.toml"),
      block: cargoConfigToml(registry.baseUrl).split("\n").filter((line) => !line.startsWith("#"))
        .join("\n").trim() + "\n",
      conflict: (others) =>
        /^\s*\[source\.(crates-io|vm)\]/m.test(others) ? "it replaces crates.io itself" : undefined,
    }];
  },
  projectFilePaths: (dir) => Promise.resolve([join(dir, ".cargo", "config.toml")]),
};
