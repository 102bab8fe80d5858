// One measured `pip install` of a realistic requirements set into a fresh virtual environment,
// with pip's cache disabled and nothing from the machine's pip configuration (this machine sets
// PIP_FIND_LINKS, which would bypass the index). The venv is made before the clock starts.
import { join } from "node:path";

/**
 * A web/data/tooling mix, pinned so every run installs the same set (53 distributions with
 * Python 3.11 on linux x86_64, all wheels: numpy and pandas are large platform wheels, botocore
 * a large pure one, django and sqlalchemy mid-sized ones).
 */
export const PIP_REQUIREMENTS = [
  "requests==2.32.3",
  "flask==3.1.0",
  "django==5.1.4",
  "fastapi==0.115.6",
  "pydantic==2.10.4",
  "sqlalchemy==2.0.36",
  "numpy==2.2.1",
  "pandas==2.2.3",
  "pytest==8.3.4",
  "black==24.10.0",
  "rich==13.9.4",
  "httpx==0.28.1",
  "boto3==1.35.90",
  "pyyaml==6.0.2",
  "click==8.1.8",
  "attrs==24.3.0",
];

/**
 * Identical for every way: `--isolated` ignores pip's config files and PIP_* variables,
 * `--no-cache-dir` makes every run download everything, and no version check goes to pypi.org.
 */
export const PIP_FLAGS = [
  "--isolated",
  "--no-cache-dir",
  "--disable-pip-version-check",
  "--quiet",
];

export interface PipInstallResult {
  seconds: number;
  /** Every installed distribution as `name==version`, sorted (with the venv's pip and setuptools). */
  tree: string[];
}

/** Installs into a fresh venv in `workDir` from `indexUrl` (a PEP 503 simple index). */
export async function pipInstallOnce(
  indexUrl: string,
  workDir: string,
  signal?: AbortSignal,
): Promise<PipInstallResult> {
  const venv = join(workDir, "venv");
  await run("python3", ["-m", "venv", venv], workDir, signal);
  const requirements = join(workDir, "requirements.txt");
  await Deno.writeTextFile(requirements, PIP_REQUIREMENTS.join("\n") + "\n");
  const python = join(venv, "bin", "python");
  const started = performance.now();
  await run(
    python,
    [
      "-m",
      "pip",
      "install",
      ...PIP_FLAGS,
      "--index-url",
      indexUrl,
      "-r",
      requirements,
    ],
    workDir,
    signal,
  );
  const seconds = (performance.now() - started) / 1000;
  // Not PIP_FLAGS: `--quiet` would silence the listing itself.
  const list = await run(
    python,
    ["-m", "pip", "list", "--format=json", "--isolated", "--disable-pip-version-check"],
    workDir,
  );
  const tree = (JSON.parse(list) as { name: string; version: string }[])
    .map(({ name, version }) => `${name.toLowerCase()}==${version}`)
    .sort();
  return { seconds, tree };
}

/** The Python and pip versions, for the report. */
export async function pipVersions(): Promise<{ python: string; pip: string }> {
  const version = await run("python3", ["-m", "pip", "--version"], Deno.cwd());
  // "pip 23.2.1 from /…/site-packages/pip (python 3.11)"
  const match = version.match(/^pip (\S+) .*\(python (\S+)\)/);
  return { pip: match?.[1] ?? "unknown", python: match?.[2] ?? "unknown" };
}

function pythonFreeEnv(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([name]) =>
      !/^(PIP_|PYTHON|VIRTUAL_ENV)/.test(name)
    ),
  );
}

async function run(
  command: string,
  args: string[],
  cwd: string,
  signal?: AbortSignal,
): Promise<string> {
  const output = await new Deno.Command(command, {
    args,
    cwd,
    env: { ...pythonFreeEnv(), PIP_CONFIG_FILE: "/dev/null" },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal,
  }).output();
  if (!output.success) {
    const stderr = new TextDecoder().decode(output.stderr).trim().split("\n").slice(-10);
    throw new Error(`${command} ${args.slice(0, 3).join(" ")} failed:\n  ${stderr.join("\n  ")}`);
  }
  return new TextDecoder().decode(output.stdout);
}
