// One measured `pip install` of a realistic requirements set into a fresh virtual environment,
// with pip's cache disabled and nothing from the machine's pip configuration (this machine sets
// PIP_FIND_LINKS, which would bypass the index). The venv is made before the clock starts.
import { join } from "node:path";

/**
 * A web/data/tooling mix, pinned so every run installs the same set (about 45 distributions,
 * all wheels: numpy and pandas are large platform wheels, botocore a large pure one).
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

export async function pipInstallOnce(
  indexUrl: string,
  workDir: string,
): Promise<{ seconds: number; installed: number }> {
  const venv = join(workDir, "venv");
  await run("python3", ["-m", "venv", venv], workDir);
  const requirements = join(workDir, "requirements.txt");
  await Deno.writeTextFile(requirements, PIP_REQUIREMENTS.join("\n") + "\n");
  const started = performance.now();
  await run(join(venv, "bin", "python"), [
    "-m",
    "pip",
    "install",
    "--isolated",
    "--no-cache-dir",
    "--disable-pip-version-check",
    "--quiet",
    "--index-url",
    indexUrl,
    "-r",
    requirements,
  ], workDir);
  const seconds = (performance.now() - started) / 1000;
  const list = await run(join(venv, "bin", "python"), [
    "-m",
    "pip",
    "list",
    "--format=json",
  ], workDir);
  return { seconds, installed: JSON.parse(list).length };
}

function pythonFreeEnv(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([name]) =>
      !/^(PIP_|PYTHON|VIRTUAL_ENV)/.test(name)
    ),
  );
}

async function run(command: string, args: string[], cwd: string): Promise<string> {
  const output = await new Deno.Command(command, {
    args,
    cwd,
    env: { ...pythonFreeEnv(), PIP_CONFIG_FILE: "/dev/null" },
    clearEnv: true,
    stdin: "null",
  }).output();
  if (!output.success) {
    const stderr = new TextDecoder().decode(output.stderr).trim().split("\n").slice(-10);
    throw new Error(`${command} ${args.slice(0, 3).join(" ")} failed:\n  ${stderr.join("\n  ")}`);
  }
  return new TextDecoder().decode(output.stdout);
}
