// What an ecosystem is to the rest of the program. Each ecosystem is one folder under
// src/registry/ whose mod.ts exports one `Ecosystem` value: its routes (built on the shared
// services), its upstream settings, the KV prefixes of what it caches, and how its package clients
// are pointed at the registry on the host and in VMs. src/registry/ecosystems.ts lists them; the
// server, the settings and start flags, the background and Docker arguments, the cache limit,
// status, `vm pkg use/exec`, project configuration and VM provisioning read that list and name no
// ecosystem themselves. A descriptor imports only downward (registry, upstream, store).
import type { PrivatePackages } from "../store/private_packages.ts";
import type { EcosystemContext } from "./context.ts";
import type { Route } from "./route_table.ts";

export interface Ecosystem {
  /** Its short name: KV prefix, counters and status key, `--type` value ("npm", "cargo"). */
  readonly id: string;
  /** Other names `--type` and `/-/packages?type=` accept ("pip" for pypi). */
  readonly aliases?: readonly string[];
  /** Where its routes live, e.g. "/npm": paths under `${prefix}/` are its to answer. */
  readonly prefix: string;
  /** What a client is configured with to use it, e.g. `${baseUrl}/npm/` ("/" and `vm pkg start`). */
  clientUrl(baseUrl: string): string;
  /** Each is a config key, a `vm pkg start` flag and a server argument (settings.ts). */
  readonly upstreams: readonly UpstreamSetting[];
  /** KV prefix of its cached public files: `[...prefix, name, file]` → { sha256, size, storedAt }. */
  readonly cachedFiles: Deno.KvKey;
  /** KV prefix of its cached metadata documents, one per package (`documents` in /-/status). */
  readonly documents: Deno.KvKey;
  /** An error answer in the shape its clients read; absent: `{"error": message}`. */
  formatError?(status: number, message: string, headers: Headers): Response;
  /** Its answer to a path under its prefix that no route takes; absent: 404 "no such route". */
  unmatched?(path: string): { status: number; message: string };
  /** Its routes and hooks, on the shared services, fetching from these upstream URLs. */
  create(ctx: EcosystemContext, upstreams: UpstreamUrls): EcosystemService;
  /** How its package clients reach the registry. */
  readonly clients: ClientSetup;
}

export interface UpstreamSetting {
  /** The config key (snake_case); the start flag is its kebab-case (`--cargo-files-upstream`). */
  readonly key: string;
  /** Its name in /-/status `upstreams` and in the `UpstreamUrls` its ecosystem gets. */
  readonly name: string;
  readonly default: string;
  /** One line for `vm pkg config show` and `vm pkg start --help`. */
  readonly meaning: string;
}

/** An ecosystem's upstream URLs by their `UpstreamSetting.name`. */
export type UpstreamUrls = Readonly<Record<string, string>>;

/** A running ecosystem: what `create` returns. */
export interface EcosystemService {
  /** Matched in this order, after the server's own routes. */
  readonly routes: readonly Route[];
  /** Loads what must be in memory before the first request. */
  init?(): Promise<void>;
  /** Resolves when no download or refresh of it runs (graceful shutdown). */
  idle(): Promise<void>;
  /** Packages published here, for an ecosystem that takes them (`/-/packages`). */
  readonly privates?: PrivatePackages;
  /** The stored form of a package name as a user typed it; undefined when it is not valid. */
  canonicalName?(name: string): string | undefined;
}

/** The ecosystem a `--type` or `?type=` value names (its id or an alias); undefined if none. */
export function findEcosystem<E extends Pick<Ecosystem, "id" | "aliases">>(
  name: string,
  ecosystems: readonly E[],
): E | undefined {
  const wanted = name.toLowerCase();
  return ecosystems.find((each) => each.id === wanted || each.aliases?.includes(wanted));
}

// --- Clients ------------------------------------------------------------------------------------

/** Where a client finds the registry. */
export interface RegistryAddress {
  /** e.g. http://host.docker.internal:3080 (no trailing slash). */
  baseUrl: string;
  /** The host name alone, e.g. host.docker.internal (what "trusted host" settings take). */
  host: string;
  /** Plain http to it is allowed without trust settings (pip: loopback only). */
  loopback: boolean;
}

export function registryAddress(baseUrl: string): RegistryAddress {
  const url = new URL(baseUrl);
  const host = url.hostname;
  return {
    baseUrl: baseUrl.replace(/\/+$/, ""),
    host,
    loopback: host === "localhost" || host === "[::1]" || /^127\./.test(host),
  };
}

/** The first line of every user-level file vm writes for a client. */
export const WRITTEN_BY_VM = "# Written by vm: packages install through the vm package registry.";

export interface ClientSetup {
  /** The commands that install its packages, and how each is routed. */
  readonly commands: readonly ClientCommand[];
  /**
   * User-level files (path relative to the home directory → content) that route the VM user's
   * clients through the registry, for every shell, script and editor.
   */
  userFiles?(registry: RegistryAddress): Record<string, string>;
  /** The project-level files `vm pkg start` writes into a project of this ecosystem. */
  projectFiles?(dir: string, registry: RegistryAddress, probe: FileProbe): Promise<ProjectFile[]>;
  /** Every file `projectFiles` may have written in `dir` (`vm pkg stop` looks for its block). */
  projectFilePaths?(dir: string, probe: FileProbe): Promise<string[]>;
}

export interface ClientCommand {
  /** The command's name on PATH. */
  readonly name: string;
  /**
   * `vm pkg use` defines a shell function for it; false for commands only VMs wrap (npx, uvx:
   * a shell function of theirs would not reach the tool they run).
   */
  readonly shellFunction: boolean;
  /** Interpreters that also run it as `<interpreter> -m <name>` (pip, uv with python3). */
  readonly moduleOf?: readonly string[];
  /** The environment that sends it to the registry. */
  env?(registry: RegistryAddress): Record<string, string>;
  /** Arguments that send it to the registry (cargo's `--config`; it has no variable for it). */
  args?(registry: RegistryAddress): string[];
  /** A first argument starting with this stays first (cargo's `+toolchain`). */
  readonly keepsFirstArgWith?: string;
  /** The environment that sends it to the public registry, over the user-level files. */
  readonly publicEnv?: Readonly<Record<string, string>>;
  /** The arguments that send it to the public registry, over the user-level files. */
  readonly publicArgs?: readonly string[];
}

/** One block `vm pkg start` writes into a project file (and `vm pkg stop` takes out). */
export type ProjectFile = ProjectBlock | ProjectFileLeftAlone;

/** A block written into a project file. */
export interface ProjectBlock {
  path: string;
  block: string;
  /** Why the file must not be touched, judged on its content outside the block. */
  conflict?(others: string): string | undefined;
}

/**
 * A file that makes the directory a project of this ecosystem but cannot point its clients at the
 * registry (go.mod names no proxy): never written; `vm pkg start` says why and what to use.
 */
export interface ProjectFileLeftAlone {
  path: string;
  leftAlone: string;
}

/** What project detection may look at. */
export interface FileProbe {
  exists(path: string): Promise<boolean>;
  readText(path: string): Promise<string | undefined>;
}

// --- Upstreams ----------------------------------------------------------------------------------

/**
 * One ecosystem's upstream URLs by name, from URLs given by setting key (the config keys, the
 * start flags and RegistryOptions.upstreams all use the key); each absent one is its default.
 */
export function upstreamUrls(
  ecosystem: Pick<Ecosystem, "upstreams">,
  byKey: Readonly<Record<string, string | undefined>> = {},
): Record<string, string> {
  return Object.fromEntries(
    ecosystem.upstreams.map((setting) => [setting.name, byKey[setting.key] ?? setting.default]),
  );
}

/** Every ecosystem's upstream URLs, defaults for the ones not given: what a server fetches from. */
export function allUpstreamUrls(
  ecosystems: readonly Pick<Ecosystem, "upstreams">[],
  byKey: Readonly<Record<string, string | undefined>> = {},
): string[] {
  return ecosystems.flatMap((ecosystem) => Object.values(upstreamUrls(ecosystem, byKey)));
}
