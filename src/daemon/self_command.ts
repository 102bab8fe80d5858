// How `vm` re-runs itself (the background server, the registry container, tests): the compiled
// binary runs itself directly; from source, the same deno binary runs main.ts with the same
// config, and with the CLI's permissions or the narrower set a server is given.
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The permissions `vm` needs; deno.json's `vm` and `compile` tasks grant the same set. */
export const PERMISSION_FLAGS = [
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-run",
  "--allow-sys",
];

/**
 * The command that runs `vm args…`. `permissions` replaces the CLI's when running from source
 * (the registry server gets serverPermissionFlags). A compiled binary's permissions are fixed
 * when it is compiled and cannot be given on its command line: it runs with those, and the
 * server narrows what it can at run time (dropPermissionsAfterStart).
 */
export function selfCommand(
  args: string[],
  permissions: readonly string[] = PERMISSION_FLAGS,
): { command: string; args: string[] } {
  const exec = Deno.execPath();
  if (!runsFromSource(exec)) return { command: exec, args };
  const root = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
  return {
    command: exec,
    args: [
      "run",
      "--quiet",
      ...permissions,
      "--unstable-kv",
      `--config=${join(root, "deno.json")}`,
      join(root, "main.ts"),
      ...args,
    ],
  };
}

/** Whether `executable` is deno running the source (not a compiled `vm`). */
export function runsFromSource(executable = Deno.execPath()): boolean {
  return /^deno(\.exe)?$/.test(basename(executable));
}
