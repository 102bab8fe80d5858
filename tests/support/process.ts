// Runs a real program to completion and returns its exit code and decoded output.

export interface ProcessResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runProcess(
  command: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; clearEnv?: boolean } = {},
): Promise<ProcessResult> {
  const output = await new Deno.Command(command, { args, stdin: "null", ...options }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** Whether a program runs at all (`--version` exits 0). */
export async function hasProgram(command: string, args = ["--version"]): Promise<boolean> {
  try {
    return (await runProcess(command, args)).code === 0;
  } catch {
    return false;
  }
}

/** Runs `fn` with a fresh temp dir, removed afterwards whatever happens. */
export async function withTempDir(
  fn: (dir: string) => Promise<void>,
  prefix = "vm-test-",
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
