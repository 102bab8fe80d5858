// Runs an ecosystem's build tool (npm pack, pip wheel, cargo package) in a project directory and
// turns a failure into one PublishError line with the tool's own last words.
import { PublishError } from "./types.ts";

export interface ToolResult {
  stdout: string;
  stderr: string;
}

export async function runTool(
  command: string,
  args: string[],
  options: { cwd: string; env?: Record<string, string>; what: string },
): Promise<ToolResult> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(command, {
      args,
      cwd: options.cwd,
      env: options.env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new PublishError(`${options.what} needs \`${command}\`, which is not installed`);
    }
    throw error;
  }
  const stdout = new TextDecoder().decode(output.stdout);
  const stderr = new TextDecoder().decode(output.stderr);
  if (!output.success) {
    const lines = (stderr || stdout).trim().split("\n").filter((line) => line.trim());
    const last = lines.slice(-3).join(" | ").trim();
    throw new PublishError(
      `${options.what} failed (\`${command} ${args.join(" ")}\` exited ${output.code})` +
        (last ? `: ${last}` : ""),
    );
  }
  return { stdout, stderr };
}
