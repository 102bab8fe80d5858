// The cargo configuration that makes this registry replace crates.io. Source replacement cannot
// be set through environment variables, so it is written to a config file (or passed with
// `--config`); `vm pkg use`, `vm pkg exec` and VM provisioning all use this one function.

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
