// Deno's sandbox as the second wall around the registry server (issue 14). The first wall is the
// code: only URLs built from the configured upstreams are fetched. This one holds when the code
// slips: the server process may read and write only its data dir (and read its config file),
// connect only to its own listen addresses and the configured upstream hosts, and never run a
// program. What each entry is for, measured with DENO_AUDIT_PERMISSIONS while npm, pip and cargo
// installed through the server:
//   read   the data dir (blobs, KV, token, record, log) and the config file (loadSettings reads it,
//          the options on the command line win). Not the source tree or Deno's cache: deno loads
//          modules and npm packages without a read check. Not the CA bundle: the runtime reads
//          DENO_CERT and the system store itself.
//   write  the data dir only. Project client files (.npmrc…) are the CLI's: `vm pkg start` writes
//          them and `vm pkg stop` takes them out (see runForeground).
//   net    host:port of every listen address (the listen itself is checked) and of every
//          configured upstream; a redirect to any other host:port fails.
//   env    the variables the start path reads: $VM_PKG_* and the ones the default config and data
//          paths are made of (settings.ts, store/data_dir.ts); yaml's LOG_TOKENS/LOG_STREAM read as unset.
//   sys    networkInterfaces, only where the server looks up the Docker bridge address itself.
// Deno's scopes cannot be narrowed inside a running process (revoking a path under a global grant
// does nothing; only a whole kind can be revoked), so the narrow set is given where vm spawns the
// server: the background child and the --docker container. A server that already holds more (run
// by hand from source, or the compiled binary, whose permissions are fixed when it is compiled)
// drops every kind it no longer needs once it listens: see dropPermissionsAfterStart.

import { allUpstreamUrls, type Ecosystem } from "../registry/ecosystem.ts";
import { ECOSYSTEMS } from "../registry/ecosystems.ts";
import type { RegistryOptions } from "../registry/server.ts";

/** What the server needs to reach, as the process that starts it computes it. */
export interface ServerSandbox {
  dataDir: string;
  /** The config file the server reads (it may not exist). */
  configFile: string;
  /** Every address it listens on, hostname first. */
  listen: string[];
  /** Its port; 0 (a free port, tests) grants the listen hosts on any port. */
  port: number;
  /** The configured upstream URLs: the only hosts it fetches from. */
  upstreams: string[];
  /** It looks up the Docker bridge address itself (Deno.networkInterfaces). */
  findsBridge: boolean;
}

/** The environment the server's start path reads; nothing else (PATH, tokens, keys) is visible. */
export const SERVER_ENV: readonly string[] = [
  "VM_PKG_*",
  "HOME",
  "USERPROFILE",
  "XDG_CONFIG_HOME",
  "XDG_DATA_HOME",
  "APPDATA",
  "LOCALAPPDATA",
];

/**
 * Debugging switches of the yaml package, read while it parses the config file: the server sees
 * them as unset instead of being granted them.
 */
const IGNORED_ENV: readonly string[] = ["LOG_TOKENS", "LOG_STREAM"];

/** The `deno run` permission flags for the server: the narrowest set it works with. */
export function serverPermissionFlags(sandbox: ServerSandbox): string[] {
  const files = [sandbox.dataDir, sandbox.configFile];
  for (const path of files) {
    // Deno splits these lists at commas and has no escape for one.
    if (path.includes(",")) {
      throw new Error(`${path}: a path with a comma cannot be granted to the server (Deno flags)`);
    }
  }
  return [
    // A check that fails must fail, never wait for an answer at a prompt.
    "--no-prompt",
    `--allow-read=${unique(files).join(",")}`,
    `--allow-write=${sandbox.dataDir}`,
    `--allow-net=${serverHosts(sandbox).join(",")}`,
    `--allow-env=${SERVER_ENV.join(",")}`,
    `--ignore-env=${IGNORED_ENV.join(",")}`,
    ...(sandbox.findsBridge ? ["--allow-sys=networkInterfaces"] : []),
  ];
}

/** The upstream URLs a server with these options fetches from: none when it is offline. */
export function upstreamsOf(
  options: Pick<RegistryOptions, "upstreams" | "offline">,
  ecosystems: readonly Ecosystem[] = ECOSYSTEMS,
): string[] {
  if (options.offline) return [];
  return allUpstreamUrls(ecosystems, options.upstreams);
}

/** host:port of every listen address and every upstream, as --allow-net takes them. */
export function serverHosts(sandbox: Pick<ServerSandbox, "listen" | "port" | "upstreams">) {
  const listen = sandbox.listen.map((address) => {
    const host = address.includes(":") ? `[${address}]` : address;
    return sandbox.port === 0 ? host : `${host}:${sandbox.port}`;
  });
  const upstreams = sandbox.upstreams.map((text) => {
    const url = new URL(text);
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new Error(`upstream ${text}: only http(s) upstreams can be granted`);
    }
    return `${url.hostname}:${url.port || (url.protocol === "https:" ? "443" : "80")}`;
  });
  return unique([...listen, ...upstreams]);
}

/**
 * The kinds a running server never needs, whatever it was started with. `import` (remote modules;
 * deno grants deno.land, jsr.io… by default) is missing from Deno 2.9's PermissionName type, but
 * revoking it works.
 */
const NEVER_NEEDED = ["run", "ffi", "import"];
/** Needed only to start (settings, the bridge address): gone once it listens. */
const START_ONLY = ["env", "sys"];

/**
 * Revokes, in this process, every permission kind the server does not use once it listens: no
 * programs, no native libraries, no remote imports, no environment, no system information. Read,
 * write and net stay as granted: Deno cannot narrow a granted kind to paths or hosts at run time,
 * which is why vm spawns the server with scoped flags (serverPermissionFlags). Returns one line
 * for the log saying what the process holds.
 */
export async function dropPermissionsAfterStart(): Promise<string> {
  for (const name of [...NEVER_NEEDED, ...START_ONLY]) {
    await Deno.permissions.revoke({ name } as unknown as Deno.PermissionDescriptor);
  }
  const unscoped = (["read", "write", "net"] as const).filter((name) =>
    Deno.permissions.querySync({ name }).state === "granted"
  );
  const dropped = `no ${[...NEVER_NEEDED, ...START_ONLY].join(", ")}`;
  if (unscoped.length === 0) {
    return `permissions: read and write only the data dir (and read the config file), net only ` +
      `the listen addresses and upstreams; ${dropped}`;
  }
  const why = Deno.build.standalone
    ? "a compiled vm keeps the permissions it was compiled with"
    : "started by hand with them unscoped; `vm pkg start` runs the server with them scoped";
  return `permissions: ${dropped}; ${unscoped.join(", ")} NOT narrowed (${why})`;
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}
