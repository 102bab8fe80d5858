// The wrapper script a package client runs through (VMs' wrappers, src/vm/client_wrappers.ts, and
// the `/setup.sh` any machine pipes into sh, setup_script.ts): it asks the registry's health route
// (the answer remembered for a few seconds) and runs the real client unchanged while the registry
// answers, pointed at the public registries when it does not. Pure text built from the
// ecosystems' descriptors; it lives here, below vm/, so the registry's own `/setup.sh` can use it.
import type { ClientCommand } from "./ecosystem.ts";
import { ECOSYSTEMS } from "./ecosystems.ts";

/** Every client command of the ecosystems (as clients/routing.ts lists them). */
function clientCommands(): ClientCommand[] {
  return ECOSYSTEMS.flatMap((ecosystem) => ecosystem.clients.commands);
}

/**
 * How long one health answer is trusted. "down" the longer: a check that times out costs a second
 * (a host that drops packets) and the public registries serve meanwhile. "up" briefly: checking
 * costs milliseconds, and a stopped registry trusted as up is npm's minute-long hang again.
 */
export const HEALTH_TTL = { upSeconds: 2, downSeconds: 5 } as const;

export const FALLBACK_MESSAGE =
  "vm: the host registry does not answer; using the public registries";

/** Interpreters that run a client as `<interpreter> -m <client>`, and the clients they run. */
const INTERPRETERS: ReadonlyMap<string, string[]> = (() => {
  const map = new Map<string, string[]>();
  for (const command of clientCommands()) {
    for (const interpreter of command.moduleOf ?? []) {
      map.set(interpreter, [...map.get(interpreter) ?? [], command.name]);
    }
  }
  return map;
})();

/** Every name a wrapper answers to: the clients, then the interpreters that run some of them. */
export const WRAPPED_COMMANDS: readonly string[] = [
  ...clientCommands().map((command) => command.name),
  ...INTERPRETERS.keys(),
];

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
  for (const client of clientCommands()) {
    const body = publicFallback(client);
    if (body.length === 0) continue;
    const key = body.join("\n");
    arms.set(key, [...arms.get(key) ?? [], client.name]);
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
${interpreterCases()}
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

/**
 * The lines that send one client to its public registry: its variables (the user's own are kept),
 * then its arguments, after a first one it keeps first (cargo's `+toolchain`).
 */
function publicFallback(client: ClientCommand): string[] {
  const lines = Object.entries(client.publicEnv ?? {})
    .map(([name, value]) => `    [[ -v ${name} ]] || export ${name}=${quote(value)}`);
  if (!client.publicArgs?.length) return lines;
  const args = client.publicArgs.map(quote).join(" ");
  if (client.keepsFirstArgWith) {
    lines.push(
      `    [[ \${1-} == ${client.keepsFirstArgWith}* ]] && exec "$real" "$1" ${args} "\${@:2}"`,
    );
  }
  lines.push(`    exec "$real" ${args} "$@"`);
  return lines;
}

/** For an interpreter: which client `<interpreter> -m <module>` is (none: run it at once). */
function interpreterCases(): string {
  // Interpreters that run the same clients share one test (python and python3).
  const groups = new Map<string, string[]>();
  for (const [interpreter, clients] of INTERPRETERS) {
    const key = clients.join(" ");
    groups.set(key, [...groups.get(key) ?? [], interpreter]);
  }
  return [...groups].map(([clients, interpreters]) =>
    [
      `if [[ ${interpreters.map((each) => `$name == ${each}`).join(" || ")} ]]; then`,
      `  # Only \`${interpreters.at(-1)} -m ${clients.split(" ").join("|")}\` run package clients.`,
      '  case "${1-} ${2-}" in',
      ...clients.split(" ").map((client) => `    "-m ${client}") client=${client} ;;`),
      "    *) client= ;;",
      "  esac",
      "fi",
    ].join("\n")
  ).join("\n") + "\n";
}
