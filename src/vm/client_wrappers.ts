// The package clients inside a VM when the host registry is down. The user-level files written at
// provisioning (src/clients/user_config.ts) point every client at the host registry, for shells,
// scripts and editors alike; on their own they make a stopped registry a minute-long hang (npm
// retries host.docker.internal for ~70 s) or an empty index (pip). So each client also gets a
// small wrapper, first on the VM user's PATH, that asks the registry's health route (the answer
// remembered for a few seconds, so a burst of commands costs one check) and then runs the real
// client: unchanged while the registry answers, pointed at the public registries when it does
// not. Environment variables override the user-level files for npm, pnpm, yarn, pip and uv;
// cargo's source replacement has no variable, so it gets `--config` arguments.
//
// One script, installed once as root, with a symlink per client name; it finds the real client
// on PATH after itself. `python3 -m pip` and `python3 -m uv` reach pip and uv without their
// wrappers, so `python` and `python3` are wrapped too, but only those two invocations are ever
// checked or changed: any other python command is exec'd at once.
import { publicCargoConfigArgs, publicClientEnv, ROUTED_CLIENTS } from "../clients/routing.ts";

/** Where the wrappers live: root-owned, first on the VM user's PATH. */
export const VM_LIB_DIR = "/usr/local/lib/vm";
export const WRAPPER_DIR = `${VM_LIB_DIR}/bin`;
/** Sourced by the VM user's ~/.profile and ~/.bashrc: PATH with the wrappers first. */
export const PROFILE_SCRIPT = `${VM_LIB_DIR}/profile.sh`;
const ROUTE_SCRIPT = `${VM_LIB_DIR}/route`;

/**
 * How long one health answer is trusted. "down" the longer: a check that times out costs a second
 * (a host that drops packets) and the public registries serve meanwhile. "up" briefly: checking
 * costs milliseconds, and a stopped registry trusted as up is npm's minute-long hang again.
 */
export const HEALTH_TTL = { upSeconds: 2, downSeconds: 5 } as const;

export const FALLBACK_MESSAGE =
  "vm: the host registry does not answer; using the public registries";

/** Every name a wrapper answers to. */
export const WRAPPED_COMMANDS = [...ROUTED_CLIENTS, "npx", "uvx", "python", "python3"] as const;

/** Quotes one word for bash (single quotes). */
function quote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

export interface WrapperOptions {
  /** The host registry's base URL as the VM reaches it, e.g. http://host.docker.internal:3080 */
  registryUrl: string;
  ttl?: { upSeconds: number; downSeconds: number };
}

/** The bash script every wrapper name links to. */
export function wrapperScript(options: WrapperOptions): string {
  const url = new URL(options.registryUrl);
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  const ttl = options.ttl ?? HEALTH_TTL;
  const seconds = (n: number) => Math.max(0, Math.floor(n));
  // One case arm per distinct fallback (npm, pnpm and npx share theirs).
  const arms = new Map<string, string[]>();
  for (const client of WRAPPED_COMMANDS) {
    const body = client === "cargo" ? cargoFallback() : Object.entries(publicClientEnv(client))
      .map(([name, value]) => `    [[ -v ${name} ]] || export ${name}=${quote(value)}`);
    if (body.length === 0) continue;
    const key = body.join("\n");
    arms.set(key, [...arms.get(key) ?? [], client]);
  }
  const fallbackArms = [...arms].map(([body, clients]) =>
    `  ${clients.join(" | ")})\n${body}\n    ;;`
  );
  return `#!/bin/bash
# Written by vm: runs the package client it is called as (npm, pip, cargo, ...) through the host
# registry while the registry answers, and with the public registries when it does not. The
# answer is remembered (up ${ttl.upSeconds} s, down ${ttl.downSeconds} s), so a burst of commands
# costs one check.
registry=${quote(url.origin)}
ttl_up=${seconds(ttl.upSeconds)}
ttl_down=${seconds(ttl.downSeconds)}
name=\${0##*/}
client=$name
if [[ $name == python || $name == python3 ]]; then
  # Only \`python3 -m pip\` and \`python3 -m uv\` are package clients.
  case "\${1-} \${2-}" in
    "-m pip" | "-m pip3") client=pip ;;
    "-m uv") client=uv ;;
    *) client= ;;
  esac
fi

# The real client: the first one on PATH that is not this script.
real=
IFS=: read -r -a vm_path_dirs <<<"$PATH"
for dir in "\${vm_path_dirs[@]}"; do
  candidate=\${dir:-.}/$name
  if [[ -f $candidate && -x $candidate && ! $candidate -ef \${BASH_SOURCE[0]} ]]; then
    real=$candidate
    break
  fi
done
if [[ -z $real ]]; then
  echo "$name: command not found" >&2
  exit 127
fi
[[ -n $client ]] || exec "$real" "$@"

state_file="\${XDG_CACHE_HOME:-\${HOME:-/tmp}/.cache}/vm/registry-health-${port}"
now=\${EPOCHSECONDS:-$(date +%s)}
if ! { read -r checked state <"$state_file" && [[ $checked =~ ^[0-9]+$ ]]; } 2>/dev/null; then
  checked=0 state=
fi
case $state in
  up) ttl=$ttl_up ;;
  down) ttl=$ttl_down ;;
  *) ttl=0 ;;
esac
((now >= checked && now - checked < ttl)) || state=
if [[ $state != up && $state != down ]]; then
  if command -v curl >/dev/null 2>&1; then
    curl -fs -m 1 -o /dev/null "$registry/-/health" && state=up || state=down
  else
    timeout 1 bash -c 'exec 3<>"/dev/tcp/$1/$2"' vm-check ${quote(url.hostname)} ${port} \\
      2>/dev/null && state=up || state=down
  fi
  mkdir -p "\${state_file%/*}" 2>/dev/null &&
    printf '%s %s\\n' "$now" "$state" >"$state_file.$$" 2>/dev/null &&
    mv -f "$state_file.$$" "$state_file" 2>/dev/null
fi
[[ $state == up ]] && exec "$real" "$@"

# Once per command tree: a client the fallback runs (npm's lifecycle scripts) says nothing more.
[[ -n \${VM_REGISTRY_FALLBACK-} ]] || echo ${quote(FALLBACK_MESSAGE)} >&2
export VM_REGISTRY_FALLBACK=1
# Variables the user set themselves are kept: the fallback only replaces the registry's address.
case $client in
${fallbackArms.join("\n")}
esac
exec "$real" "$@"
`;
}

/** cargo takes the public crates.io as --config arguments, after a leading +toolchain. */
function cargoFallback(): string[] {
  const args = publicCargoConfigArgs().map(quote).join(" ");
  return [
    `    [[ \${1-} == +* ]] && exec "$real" "$1" ${args} "\${@:2}"`,
    `    exec "$real" ${args} "$@"`,
  ];
}

/**
 * The PATH every login and interactive shell of the VM user gets: the wrappers, the user's venv
 * (where `pip install` goes), npm's global prefix and cargo's bin. Prepended once (a shell that
 * reads both ~/.profile and ~/.bashrc does not grow it twice), and after whatever ~/.profile put
 * first, so the wrappers stay in front.
 */
export function profileScript(): string {
  return `# Written by vm: the package-client wrappers first on PATH (with the host registry down they
# use the public registries), then the VM user's Python venv, npm's global bin and cargo's bin.
vm_path="${WRAPPER_DIR}:$HOME/.venv/bin:$HOME/.local/bin:$HOME/.cargo/bin"
case "$PATH" in
  "$vm_path" | "$vm_path":*) ;;
  *) PATH="$vm_path:$PATH" ;;
esac
export PATH
unset vm_path
`;
}

/** Root's script that installs the profile snippet and, for a VM on the registry, the wrappers. */
export function installScript(registryUrl: string | undefined): string {
  const encode = (text: string) => new TextEncoder().encode(text).toBase64();
  const lines = [
    "set -e",
    `mkdir -p ${WRAPPER_DIR}`,
    `printf '%s' '${encode(profileScript())}' | base64 -d > ${PROFILE_SCRIPT}.tmp`,
    `chmod 0644 ${PROFILE_SCRIPT}.tmp && mv -f ${PROFILE_SCRIPT}.tmp ${PROFILE_SCRIPT}`,
  ];
  if (registryUrl !== undefined) {
    lines.push(
      `printf '%s' '${encode(wrapperScript({ registryUrl }))}' | base64 -d > ${ROUTE_SCRIPT}.tmp`,
      `chmod 0755 ${ROUTE_SCRIPT}.tmp && mv -f ${ROUTE_SCRIPT}.tmp ${ROUTE_SCRIPT}`,
      ...WRAPPED_COMMANDS.map((name) => `ln -sfn ../route ${WRAPPER_DIR}/${name}`),
    );
  }
  return lines.join("\n") + "\n";
}
