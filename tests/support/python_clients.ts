// Runs the real pip and uv with nothing from the machine's own configuration: no PIP_*/UV_*
// variables (this machine sets PIP_FIND_LINKS, which would bypass the index), no config files,
// no client cache.
import { join } from "node:path";
import { hasProgram, type ProcessResult, runProcess } from "./process.ts";

export function hasPython(): Promise<boolean> {
  return hasProgram("python3", ["-c", "import venv, ensurepip"]);
}

function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(Deno.env.toObject())) {
    if (!/^(PIP_|UV_|PYTHON|VIRTUAL_ENV)/.test(key)) env[key] = value;
  }
  return { ...env, PIP_CONFIG_FILE: "/dev/null", PIP_DISABLE_PIP_VERSION_CHECK: "1", ...extra };
}

export function run(
  command: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<ProcessResult> {
  return runProcess(command, args, { env: cleanEnv(env), clearEnv: true });
}

/** A fresh virtual environment; returns its python. */
export async function makeVenv(dir: string): Promise<string> {
  const result = await run("python3", ["-m", "venv", dir]);
  if (result.code !== 0) throw new Error(`python3 -m venv failed: ${result.stderr}`);
  return join(dir, "bin", "python");
}

export function pipInstall(python: string, indexUrl: string, packages: string[]) {
  return run(python, [
    "-m",
    "pip",
    "install",
    "--no-cache-dir",
    "--isolated",
    "--index-url",
    indexUrl,
    ...packages,
  ]);
}

/** Installs uv from the public PyPI into its own venv (the test setup the issue asks for). */
export async function installUv(dir: string): Promise<string> {
  const python = await makeVenv(dir);
  const result = await run(python, [
    "-m",
    "pip",
    "install",
    "--isolated",
    "--quiet",
    "--index-url",
    "https://pypi.org/simple/",
    "uv",
  ]);
  if (result.code !== 0) throw new Error(`installing uv failed: ${result.stderr}`);
  return join(dir, "bin", "uv");
}

export function uvInstall(uv: string, python: string, indexUrl: string, packages: string[]) {
  return run(uv, [
    "pip",
    "install",
    "--no-config",
    "--no-cache",
    "--python",
    python,
    "--index-url",
    indexUrl,
    ...packages,
  ]);
}
