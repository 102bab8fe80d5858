// The Docker CLI, run as a child process: one place that turns "docker is not installed" and
// "no engine answers" into one clear line, for every VM command.
import { CliError } from "./errors.ts";
import { runPassingThrough } from "./terminal_child.ts";

export interface DockerResult {
  code: number;
  stdout: string;
  stderr: string;
}

const ENGINE_DOWN =
  /Cannot connect to the Docker daemon|Is the docker daemon running|error during connect/i;

/** Runs `docker args…` and captures its output. */
export async function docker(
  args: string[],
  options: { stdin?: string } = {},
): Promise<DockerResult> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("docker", {
      args,
      stdin: options.stdin === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new CliError("docker is not installed (VMs run as Docker containers)");
    }
    throw error;
  }
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const output = await child.output();
  const decoder = new TextDecoder();
  const result = {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
  if (result.code !== 0 && ENGINE_DOWN.test(result.stderr)) {
    throw new CliError("no Docker engine answers (start Docker: dockerd, or the Docker service)");
  }
  return result;
}

/** Like docker(), but a failure is a CliError with Docker's own reason. */
export async function dockerOk(args: string[], what: string, options: { stdin?: string } = {}) {
  const result = await docker(args, options);
  if (result.code !== 0) {
    throw new CliError(`${what} failed: ${dockerReason(result.stderr) || `exit ${result.code}`}`);
  }
  return result;
}

/**
 * Docker's reason for a failure: its first error line, without the "Error response from daemon:"
 * prefix. The last line is only a summary (`docker start` ends with "Error: failed to start
 * containers: NAME" after "Error response from daemon: network X not found").
 */
export function dockerReason(stderr: string): string {
  const lines = stderr.split("\n").map((line) => line.trim()).filter(Boolean);
  const first = lines.find((line) => /^Error\b/i.test(line)) ?? lines[0] ?? "";
  return first.replace(/^Error response from daemon:\s*/i, "").replace(/^Error:\s*/i, "");
}

/** Runs docker with this terminal's stdio (ssh, exec, logs -f); returns its exit status. */
export async function dockerInteractive(args: string[]): Promise<number> {
  try {
    return await runPassingThrough("docker", args, {});
  } catch (error) {
    if (error instanceof CliError && error.exitCode === 127) {
      throw new CliError("docker is not installed (VMs run as Docker containers)");
    }
    throw error;
  }
}
