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
  const npm = npmRegistryUrl(baseUrl);
  const pypi = pypiIndexUrl(baseUrl);
  const host = new URL(baseUrl).hostname;
  switch (client) {
    case "npm":
    case "pnpm":
    case "npx":
      return { npm_config_registry: npm };
    case "yarn":
      // Classic yarn reads npm_config_registry; berry reads its own and refuses plain http
      // unless the host is allowed.
      return {
        npm_config_registry: npm,
        YARN_NPM_REGISTRY_SERVER: npm,
        YARN_UNSAFE_HTTP_WHITELIST: host,
      };
    case "pip":
    case "pip3":
      // pip allows plain http without trusted-host only for loopback.
      return isLoopback(baseUrl)
        ? { PIP_INDEX_URL: pypi }
        : { PIP_INDEX_URL: pypi, PIP_TRUSTED_HOST: host };
    case "uv":
    case "uvx":
      return { UV_DEFAULT_INDEX: pypi };
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
