// Setting a VM up after its container is created: the VM user (with the host user's uid, so
// files in /workspace keep their owner), the package clients' user-level configuration pointing
// at the host registry, and the packages vm.yaml lists, installed through it. Runs as shell
// scripts inside the container; every value that reaches a script is validated by vm.yaml's
// parser or passed base64-encoded, never spliced into shell code raw.
import { CliError } from "../cli/errors.ts";
import { userConfigFiles } from "../clients/user_config.ts";
import type { VmConfig } from "./config.ts";
import { docker } from "./docker_cli.ts";

/** The base URL a VM uses for the host registry. */
export function registryUrlForVm(port: number): string {
  return `http://host.docker.internal:${port}`;
}

export interface ProvisionOptions {
  /** The host registry's port, when the VM installs through it. */
  registryPort?: number;
  /** Where progress lines go (the installers' own output included). */
  log(line: string): void;
}

export async function provision(
  config: VmConfig,
  container: string,
  options: ProvisionOptions,
): Promise<void> {
  options.log(`vm: setting up user ${config.user}`);
  await runScript(
    container,
    "root",
    createUserScript(config.user),
    "creating the VM user",
    options,
  );
  const home = `/home/${config.user}`;
  if (options.registryPort !== undefined) {
    const url = registryUrlForVm(options.registryPort);
    options.log(`vm: routing npm, pnpm, yarn, pip, uv and cargo through ${url}`);
    await runScript(
      container,
      config.user,
      writeFilesScript(home, userConfigFiles(url)),
      "writing the package clients' configuration",
      options,
    );
  }
  await runScript(container, config.user, pathScript(home), "setting up PATH", options);
  for (const step of installSteps(config)) {
    options.log(`vm: ${step.what}`);
    await runScript(container, config.user, step.script, step.what, options);
  }
}

function createUserScript(user: string): string {
  const uid = Deno.uid() ?? 1000;
  const gid = Deno.gid() ?? 1000;
  // Host root (uid 0) cannot be reused inside; the VM user then gets the next free id.
  return `set -e
if ! id -u ${user} >/dev/null 2>&1; then
  if [ ${uid} -ne 0 ] && ! getent group ${gid} >/dev/null; then groupadd -g ${gid} ${user}; fi
  if [ ${uid} -ne 0 ] && ! getent passwd ${uid} >/dev/null; then
    useradd -m -s /bin/bash -u ${uid} -g ${gid} ${user}
  else
    useradd -m -s /bin/bash -U ${user}
  fi
fi
if [ -d /etc/sudoers.d ]; then
  echo "${user} ALL=(ALL) NOPASSWD:ALL" > /etc/sudoers.d/vm-${user}
  chmod 0440 /etc/sudoers.d/vm-${user}
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

function pathScript(home: string): string {
  const line = 'export PATH="$HOME/.local/bin:$HOME/.cargo/bin:$PATH"';
  return `set -e
for file in ${home}/.profile ${home}/.bashrc; do
  touch "$file"
  grep -qF '${line}' "$file" || echo '${line}' >> "$file"
done
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
      // Debian marks its Python externally managed (PEP 668); --user installs stay in $HOME.
      script: `set -e
python3 -m pip install --user --break-system-packages --disable-pip-version-check \\
  ${words(config.pipPackages)}
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

async function runScript(
  container: string,
  user: string,
  script: string,
  what: string,
  options: ProvisionOptions,
): Promise<void> {
  const result = await docker(
    ["exec", "-i", "--user", user, "--workdir", "/", container, "bash", "-s"],
    { stdin: script },
  );
  for (const line of `${result.stdout}${result.stderr}`.split("\n")) {
    if (line.trim()) options.log(`    ${line}`);
  }
  if (result.code !== 0) {
    throw new CliError(`${what} in ${container} failed (exit ${result.code}; output above)`);
  }
}
