// Runs the real `vm` CLI from source as a subprocess, the way a user's shell would.
import { selfCommand } from "../../src/daemon/self_command.ts";
import { type ProcessResult, runProcess } from "./process.ts";

/** Runs `vm` exactly as it re-runs itself: same entry point, config and permissions. */
export function runVm(args: string[], env: Record<string, string> = {}): Promise<ProcessResult> {
  const { command, args: fullArgs } = selfCommand(args);
  return runProcess(command, fullArgs, { env });
}

/** A loopback port that was free a moment ago. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}
