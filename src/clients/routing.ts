// How each package client is pointed at the registry: the environment variables npm, pnpm, yarn,
// pip and uv read, and cargo's `--config` arguments (source replacement has no environment
// variable). `vm pkg use`, `vm pkg exec`, project configuration and VM provisioning all build on
// these, so every way in routes the clients the same way.
import { basename } from "node:path";
import { cargoConfigArgs } from "../registry/cargo/client_config.ts";

/** The clients `vm pkg use` wraps, and which variables each one reads. */
export const ROUTED_CLIENTS = ["npm", "pnpm", "yarn", "pip", "pip3", "uv", "cargo"] as const;
export type RoutedClient = typeof ROUTED_CLIENTS[number];

export function npmRegistryUrl(baseUrl: string): string {
  return `${trimSlash(baseUrl)}/npm/`;
}

export function pypiIndexUrl(baseUrl: string): string {
  return `${trimSlash(baseUrl)}/pypi/simple/`;
}

/** A client-facing base URL for a listen address: a wildcard address is reached on loopback. */
export function clientBaseUrl(host: string, port: number): string {
  const reachable = host === "0.0.0.0" || host === "::" || host === "" ? "127.0.0.1" : host;
  return `http://${reachable.includes(":") ? `[${reachable}]` : reachable}:${port}`;
}

function isLoopback(baseUrl: string): boolean {
  const host = new URL(baseUrl).hostname;
  return host === "localhost" || host === "[::1]" || /^127\./.test(host);
}

/** The environment one client needs to install through the registry at `baseUrl`. */
export function clientEnv(client: string, baseUrl: string): Record<string, string> {
  return envFor(client, {
    npm: npmRegistryUrl(baseUrl),
    pypi: pypiIndexUrl(baseUrl),
    // pip allows plain http without trusted-host only for loopback; yarn berry never does.
    pipTrustedHost: isLoopback(baseUrl) ? undefined : new URL(baseUrl).hostname,
    yarnHttpHost: new URL(baseUrl).hostname,
  });
}

/** The public registries, where clients go when no registry is in the way. */
export const PUBLIC_REGISTRIES = {
  npm: "https://registry.npmjs.org/",
  pypi: "https://pypi.org/simple/",
  cargo: "sparse+https://index.crates.io/",
} as const;

/**
 * The environment that sends one client to the public registries, overriding user-level
 * configuration that names the registry (VMs fall back to this when the host registry is down).
 */
export function publicClientEnv(client: string): Record<string, string> {
  return envFor(client, { npm: PUBLIC_REGISTRIES.npm, pypi: PUBLIC_REGISTRIES.pypi });
}

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
    `source.public-crates-io.registry="${PUBLIC_REGISTRIES.cargo}"`,
  ];
}

interface Indexes {
  npm: string;
  pypi: string;
  /** The host pip must be told to trust (plain http beyond loopback). */
  pipTrustedHost?: string;
  /** The host yarn berry must be told to allow plain http from. */
  yarnHttpHost?: string;
}

function envFor(client: string, indexes: Indexes): Record<string, string> {
  switch (client) {
    case "npm":
    case "pnpm":
    case "npx":
      return { npm_config_registry: indexes.npm };
    case "yarn":
      // Classic yarn reads npm_config_registry; berry reads its own and refuses plain http
      // unless the host is allowed.
      return {
        npm_config_registry: indexes.npm,
        YARN_NPM_REGISTRY_SERVER: indexes.npm,
        ...(indexes.yarnHttpHost ? { YARN_UNSAFE_HTTP_WHITELIST: indexes.yarnHttpHost } : {}),
      };
    case "pip":
    case "pip3":
      return indexes.pipTrustedHost
        ? { PIP_INDEX_URL: indexes.pypi, PIP_TRUSTED_HOST: indexes.pipTrustedHost }
        : { PIP_INDEX_URL: indexes.pypi };
    case "uv":
    case "uvx":
      return { UV_DEFAULT_INDEX: indexes.pypi };
    default:
      return {};
  }
}

/** Every client's environment at once (for `vm pkg exec` of an arbitrary command). */
export function allClientsEnv(baseUrl: string): Record<string, string> {
  return Object.assign({}, ...ROUTED_CLIENTS.map((client) => clientEnv(client, baseUrl)));
}

/**
 * The arguments to run `command` with so it goes through the registry: cargo gets the
 * replacement as `--config` (after a `+toolchain`, which must stay first); others are unchanged.
 */
export function routedArgs(command: string, args: string[], baseUrl: string): string[] {
  if (basename(command) !== "cargo") return args;
  const config = cargoConfigArgs(baseUrl);
  return args[0]?.startsWith("+") ? [args[0], ...config, ...args.slice(1)] : [...config, ...args];
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, "");
}
