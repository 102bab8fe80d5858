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
    // --isolated ignores PIP_DISABLE_PIP_VERSION_CHECK; the check would ask the index for pip.
    "--disable-pip-version-check",
    "--index-url",
    indexUrl,
    ...packages,
  ]);
}

/** Installs packages from the public PyPI into a venv of their own; returns its bin dir. */
export async function installFromPypi(dir: string, packages: string[]): Promise<string> {
  const python = await makeVenv(dir);
  const result = await run(python, [
    "-m",
    "pip",
    "install",
    "--isolated",
    "--quiet",
    "--index-url",
    "https://pypi.org/simple/",
    ...packages,
  ]);
  if (result.code !== 0) {
    throw new Error(`installing ${packages.join(" ")} failed: ${result.stderr}`);
  }
  return join(dir, "bin");
}

/** Installs uv from the public PyPI into its own venv (the test setup the issue asks for). */
export async function installUv(dir: string): Promise<string> {
  return join(await installFromPypi(dir, ["uv"]), "uv");
}

/**
 * Writes a minimal setuptools project with one module that records its version, so an install
 * can be checked with `import <module>; print(<module>.__version__)`.
 */
export async function writeDemoProject(
  dir: string,
  project: { name: string; version: string; module: string },
): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(
    join(dir, "pyproject.toml"),
    [
      "[build-system]",
      'requires = ["setuptools>=61"]',
      'build-backend = "setuptools.build_meta"',
      "",
      "[project]",
      `name = "${project.name}"`,
      `version = "${project.version}"`,
      'description = "A package published by the vm pkg tests"',
      'requires-python = ">=3.8"',
      "",
      "[tool.setuptools]",
      `py-modules = ["${project.module}"]`,
      "",
    ].join("\n"),
  );
  await Deno.writeTextFile(
    join(dir, `${project.module}.py`),
    `__version__ = "${project.version}"\n`,
  );
}

/** The distribution files in a directory (what `twine upload dist/*` would take). */
export async function distFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (/\.(whl|tar\.gz|zip)$/.test(entry.name)) files.push(join(dir, entry.name));
  }
  return files.sort();
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
