// Setting a VM up after its container is created: the VM user (the workspace owner's uid, see
// vm_user.ts), the package clients' user-level configuration pointing at the host registry with
// wrappers that fall back to the public registries when it does not answer (client_wrappers.ts),
// a Python venv for `pip install`, and the packages vm.yaml lists, installed through the registry.
// Runs as shell scripts inside the container; every value that reaches a script is validated by
// vm.yaml's parser or passed base64-encoded, never spliced into shell code raw. The last step
// leaves a marker, so a VM whose setup did not finish is known and set up again.
import { CliError } from "../host/errors.ts";
import { ROUTED_CLIENTS } from "../clients/routing.ts";
import { userConfigFiles } from "../clients/user_config.ts";
import { installScript, PROFILE_SCRIPT, VM_LIB_DIR } from "./client_wrappers.ts";
import type { VmConfig } from "./config.ts";
import { docker } from "../host/docker_cli.ts";
import type { VmUser } from "./vm_user.ts";

/** The base URL a VM uses for the host registry. */
export function registryUrlForVm(port: number): string {
  return `http://host.docker.internal:${port}`;
}

/** Present once provisioning finished. */
const PROVISIONED_MARKER = `${VM_LIB_DIR}/provisioned`;

export interface ProvisionOptions {
  /** The host registry's port, when the VM installs through it. */
  registryPort?: number;
  /** Where progress lines go (the installers' own output included). */
  log(line: string): void;
}

export async function provision(
  config: VmConfig,
  container: string,
  user: VmUser,
  options: ProvisionOptions,
): Promise<void> {
  const asRoot = { name: "root", home: "/root" };
  options.log(`vm: setting up user ${user.name} (uid ${user.uid})`);
  await runScript(container, asRoot, createUserScript(user), "creating the VM user", options);
  const url = options.registryPort === undefined
    ? undefined
    : registryUrlForVm(options.registryPort);
  if (url) {
    options.log(
      `vm: routing ${listed(ROUTED_CLIENTS)} through ${url} ` +
        "(the public registries when it does not answer)",
    );
    await runScript(
      container,
      user,
      writeFilesScript(user.home, userConfigFiles(url)),
      "writing the package clients' configuration",
      options,
    );
  }
  await runScript(container, asRoot, installScript(url), "installing the client wrappers", options);
  options.log("vm: PATH and the Python venv ~/.venv (pip install goes there)");
  await runScript(
    container,
    user,
    pathScript(user.home) + venvScript(),
    "setting up PATH and the Python venv",
    options,
  );
  for (const step of installSteps(config)) {
    options.log(`vm: ${step.what}`);
    await runScript(container, user, step.script, step.what, options);
  }
  await runScript(
    container,
    asRoot,
    `set -e\ndate -u +%FT%TZ > ${PROVISIONED_MARKER}\n`,
    "finishing",
    options,
  );
}

/** "a, b and c". */
function listed(items: readonly string[]): string {
  return items.length > 1 ? `${items.slice(0, -1).join(", ")} and ${items.at(-1)}` : items[0];
}

/** Whether provisioning of this (running) container finished. */
export async function isProvisioned(container: string): Promise<boolean> {
  const result = await docker([
    "exec",
    "--user",
    "root",
    container,
    "test",
    "-f",
    PROVISIONED_MARKER,
  ]);
  return result.code === 0;
}

/**
 * Creates the VM user with the workspace owner's uid and gid. An id some account or group of the
 * image already has is shared (-o), never replaced by a fresh one: a fresh uid could not write
 * /workspace. Root needs nothing.
 */
function createUserScript(user: VmUser): string {
  const unfinished = `set -e\nrm -f ${PROVISIONED_MARKER}\n`;
  if (user.uid === 0) return unfinished;
  const { name, uid, gid, home } = user;
  return `${unfinished}if ! id -u ${name} >/dev/null 2>&1; then
  getent group ${gid} >/dev/null || groupadd -g ${gid} ${name}
  useradd -o -m -d ${home} -s /bin/bash -u ${uid} -g ${gid} ${name}
fi
if [ -d /etc/sudoers.d ]; then
  echo "${name} ALL=(ALL) NOPASSWD:ALL" > /etc/sudoers.d/vm-${name}
  chmod 0440 /etc/sudoers.d/vm-${name}
fi
`;
}

/** Writes files under the user's home from base64, so no content is ever parsed by the shell. */
function writeFilesScript(home: string, files: Record<string, string>): string {
  const lines = ["set -e"];
  for (const [path, content] of Object.entries(files)) {
    const target = `${home}/${path}`;
    const encoded = new TextEncoder().encode(content).toBase64();
    lines.push(
      `mkdir -p "$(dirname '${target}')"`,
      `printf '%s' '${encoded}' | base64 -d > '${target}'`,
    );
  }
  return lines.join("\n") + "\n";
}

/** Login shells (~/.profile) and interactive ones (~/.bashrc) read the PATH of profile.sh. */
function pathScript(home: string): string {
  const line = `if [ -r ${PROFILE_SCRIPT} ]; then . ${PROFILE_SCRIPT}; fi`;
  return `set -e
for file in ${home}/.profile ${home}/.bashrc; do
  touch "$file"
  grep -qF '${line}' "$file" || echo '${line}' >> "$file"
done
`;
}

/**
 * Debian's Python is externally managed (PEP 668): `pip install` refuses, even with --user. A
 * venv of the user's own, first on PATH after the wrappers, takes the installs; its pip reads the
 * user's pip.conf, so it installs through the registry. It sees the system's packages
 * (--system-site-packages), so Python libraries installed with apt still import. As root, pip's
 * warning about running as root is silenced for this venv only: root is the VM user here.
 */
function venvScript(): string {
  return `if [ ! -x "$HOME/.venv/bin/python3" ]; then
  python3 -m venv --system-site-packages "$HOME/.venv"
fi
if [ "$(id -u)" = 0 ] && [ ! -e "$HOME/.venv/pip.conf" ]; then
  printf '[install]\nroot-user-action = ignore\n' > "$HOME/.venv/pip.conf"
fi
`;
}

interface InstallStep {
  what: string;
  script: string;
}

/** One step per ecosystem with packages; the specs are validated in config.ts. */
function installSteps(config: VmConfig): InstallStep[] {
  const steps: InstallStep[] = [];
  const words = (specs: string[]) => specs.map((spec) => `'${spec}'`).join(" ");
  if (config.npmPackages.length > 0) {
    steps.push({
      what: `installing npm packages: ${config.npmPackages.join(" ")}`,
      script: `set -e
npm install --global --prefix "$HOME/.local" --no-audit --no-fund ${words(config.npmPackages)}
`,
    });
  }
  if (config.pipPackages.length > 0) {
    steps.push({
      what: `installing pip packages: ${config.pipPackages.join(" ")}`,
      script: `set -e
"$HOME/.venv/bin/python3" -m pip install --disable-pip-version-check ${words(config.pipPackages)}
`,
    });
  }
  if (config.cargoPackages.length > 0) {
    const dependencies = config.cargoPackages.map((spec) => {
      const [name, version] = spec.split("@");
      return `${name} = "${version ?? "*"}"`;
    });
    steps.push({
      what: `fetching crates into the cargo cache: ${config.cargoPackages.join(" ")}`,
      // A scratch crate that depends on them: `cargo fetch` downloads them and their
      // dependencies, so builds in the VM find them in the cache.
      script: `set -e
dir="$HOME/.cache/vm/cargo-packages"
mkdir -p "$dir/src"
cat > "$dir/Cargo.toml" <<'TOML'
[package]
name = "vm-cargo-packages"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
${dependencies.join("\n")}
TOML
echo 'fn main() {}' > "$dir/src/main.rs"
cd "$dir" && cargo fetch
`,
    });
  }
  return steps;
}

/** Runs a script as `user` (its HOME set: see vm_user.ts) and logs its output. */
async function runScript(
  container: string,
  user: { name: string; home: string },
  script: string,
  what: string,
  options: ProvisionOptions,
): Promise<void> {
  const result = await docker(
    [
      "exec",
      "-i",
      "--user",
      user.name,
      "--env",
      `HOME=${user.home}`,
      "--workdir",
      "/",
      container,
      "bash",
      "-s",
    ],
    { stdin: script },
  );
  for (const line of `${result.stdout}${result.stderr}`.split("\n")) {
    if (line.trim()) options.log(`    ${line}`);
  }
  if (result.code !== 0) {
    throw new CliError(`${what} in ${container} failed (exit ${result.code}; output above)`);
  }
}
