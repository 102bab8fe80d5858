// Runs the real `vm` CLI from source as a subprocess, the way a user's shell would.
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type ProcessResult, runProcess } from "./process.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

export function runVm(args: string[], env: Record<string, string> = {}): Promise<ProcessResult> {
  return runProcess(Deno.execPath(), [
    "run",
    "--quiet",
    "--allow-all",
    "--unstable-kv",
    `--config=${join(ROOT, "deno.json")}`,
    join(ROOT, "main.ts"),
    ...args,
  ], { env });
}

/** A loopback port that was free a moment ago. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}
