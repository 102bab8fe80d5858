// How `vm` re-runs itself (the background server): the compiled binary runs itself directly;
// from source, the same deno binary runs main.ts with the same config and permissions.
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

export function selfCommand(args: string[]): { command: string; args: string[] } {
  const exec = Deno.execPath();
  if (!/^deno(\.exe)?$/.test(basename(exec))) return { command: exec, args };
  const root = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
  return {
    command: exec,
    args: [
      "run",
      "--quiet",
      ...PERMISSION_FLAGS,
      "--unstable-kv",
      `--config=${join(root, "deno.json")}`,
      join(root, "main.ts"),
      ...args,
    ],
  };
}
