// Running a child program on this terminal (vm pkg exec, vm ssh, vm exec): its stdio is ours,
// and its exit status becomes ours.
import { CliError } from "./errors.ts";

/**
 * Runs a command with this process's stdio; returns its exit status (128 + signal when a signal
 * ended it, as shells report it). Ctrl-C reaches the child through the terminal; this process
 * waits for it instead of dying first, so the status still passes through.
 */
export async function runPassingThrough(
  command: string,
  args: string[],
  env: Record<string, string>,
): Promise<number> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(command, {
      args,
      env,
      stdin: "inherit",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new CliError(`command not found: ${command}`, 127);
    }
    if (error instanceof Deno.errors.PermissionDenied) {
      throw new CliError(`cannot run ${command}: permission denied`, 126);
    }
    throw error;
  }
  const forward = (signal: Deno.Signal) => () => {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  };
  const handlers = (["SIGINT", "SIGTERM", "SIGHUP"] as Deno.Signal[]).map((signal) => {
    const handler = signal === "SIGINT" ? () => {} : forward(signal);
    Deno.addSignalListener(signal, handler);
    return [signal, handler] as const;
  });
  try {
    const status = await child.status;
    return status.signal ? 128 + signalNumber(status.signal) : status.code;
  } finally {
    for (const [signal, handler] of handlers) Deno.removeSignalListener(signal, handler);
  }
}

function signalNumber(signal: Deno.Signal): number {
  const numbers: Partial<Record<Deno.Signal, number>> = {
    SIGHUP: 1,
    SIGINT: 2,
    SIGQUIT: 3,
    SIGKILL: 9,
    SIGSEGV: 11,
    SIGPIPE: 13,
    SIGTERM: 15,
  };
  return numbers[signal] ?? 0;
}
