// The shell code `vm pkg use` prints for `eval`: a function per package client that routes it
// through the registry while the registry answers, and runs it unchanged when it does not, so a
// stopped registry never breaks a command. The health check is remembered for `ttl` seconds in
// shell variables, so a burst of commands costs one check. curl does the check when installed
// (a few ms); otherwise `vm pkg ping` does.
import { type ClientCommand, registryAddress } from "../registry/ecosystem.ts";
import { clientCommands, ROUTED_CLIENTS } from "./routing.ts";

export const SHELLS = ["bash", "zsh", "fish"] as const;
export type Shell = typeof SHELLS[number];

export interface HookOptions {
  baseUrl: string;
  ttlSeconds: number;
  /** argv that runs `vm pkg ping --url <url> --quiet` (exit 0 when the registry answers). */
  pingCommand: string[];
}

export function shellHook(shell: Shell, options: HookOptions): string {
  return shell === "fish" ? fishHook(options) : posixHook(shell, options);
}

/** The shell that asked, from the parent process, else $SHELL. */
export function detectShell(
  parentCommand: string | undefined,
  shellEnv: string | undefined,
): Shell | undefined {
  for (const candidate of [parentCommand, shellEnv]) {
    const name = candidate?.trim().split("/").pop()?.replace(/^-/, "");
    if (name && (SHELLS as readonly string[]).includes(name)) return name as Shell;
  }
  return undefined;
}

/** Quotes one word for bash, zsh and fish alike (single quotes; fish needs \' and \\ escaped). */
function quote(word: string, shell: Shell): string {
  if (shell === "fish") return `'${word.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

function header(options: HookOptions): string[] {
  return [
    `# vm pkg use: ${ROUTED_CLIENTS.join(", ")} install through the vm package registry at`,
    `# ${options.baseUrl} while it answers, and run unchanged when it does not.`,
  ];
}

function posixHook(shell: Shell, options: HookOptions): string {
  const q = (word: string) => quote(word, shell);
  const lines = [
    ...header(options),
    ...(shell === "zsh" ? ["zmodload zsh/datetime 2>/dev/null"] : []),
    `__vm_pkg_url=${q(options.baseUrl)}`,
    `__vm_pkg_ttl=${Math.max(0, Math.floor(options.ttlSeconds))}`,
    "__vm_pkg_checked=-1",
    "__vm_pkg_up=1",
    "__vm_pkg_reachable() {",
    "  local now=${EPOCHSECONDS:-$(date +%s)}",
    "  if (( __vm_pkg_checked < 0 || now - __vm_pkg_checked >= __vm_pkg_ttl )); then",
    "    __vm_pkg_checked=$now",
    "    if command -v curl >/dev/null 2>&1; then",
    '      curl -fs -m 2 -o /dev/null "$__vm_pkg_url/-/health" && __vm_pkg_up=0 || __vm_pkg_up=1',
    "    else",
    `      ${options.pingCommand.map(q).join(" ")} --url "$__vm_pkg_url" --quiet \\`,
    "        && __vm_pkg_up=0 || __vm_pkg_up=1",
    "    fi",
    "  fi",
    "  return $__vm_pkg_up",
    "}",
  ];
  for (const client of hookedCommands()) {
    const name = client.name;
    lines.push(
      `${name}() {`,
      "  if __vm_pkg_reachable; then",
      posixRouted(client, options.baseUrl, q),
      "  else",
      `    command ${name} "$@"`,
      "  fi",
      "}",
    );
  }
  return lines.join("\n") + "\n";
}

/** The commands that get a shell function. */
function hookedCommands(): ClientCommand[] {
  return clientCommands().filter((command) => command.shellFunction);
}

/** The command through the registry: its variables, and its arguments after a kept first one. */
function posixRouted(client: ClientCommand, baseUrl: string, q: (word: string) => string): string {
  const run = [envAssignments(client, baseUrl, q), "command", client.name].filter(Boolean)
    .join(" ");
  const args = client.args?.(registryAddress(baseUrl)).map(q).join(" ");
  if (!args) return `    ${run} "$@"`;
  if (!client.keepsFirstArgWith) return `    ${run} ${args} "$@"`;
  return [
    `    if [[ "$1" == ${client.keepsFirstArgWith}* ]]; then`,
    `      ${run} "$1" ${args} "\${@:2}"`,
    "    else",
    `      ${run} ${args} "$@"`,
    "    fi",
  ].join("\n");
}

function fishHook(options: HookOptions): string {
  const q = (word: string) => quote(word, "fish");
  const lines = [
    ...header(options),
    `set -g __vm_pkg_url ${q(options.baseUrl)}`,
    `set -g __vm_pkg_ttl ${Math.max(0, Math.floor(options.ttlSeconds))}`,
    "set -g __vm_pkg_checked -1",
    "set -g __vm_pkg_up 1",
    "function __vm_pkg_reachable",
    "    set -l now (date +%s)",
    "    if test $__vm_pkg_checked -lt 0; or test (math $now - $__vm_pkg_checked) -ge $__vm_pkg_ttl",
    "        set -g __vm_pkg_checked $now",
    "        set -g __vm_pkg_up 1",
    "        if command -sq curl",
    '            curl -fs -m 2 -o /dev/null "$__vm_pkg_url/-/health"; and set -g __vm_pkg_up 0',
    "        else",
    `            ${options.pingCommand.map(q).join(" ")} --url "$__vm_pkg_url" --quiet; ` +
    "and set -g __vm_pkg_up 0",
    "        end",
    "    end",
    "    return $__vm_pkg_up",
    "end",
  ];
  for (const client of hookedCommands()) {
    const name = client.name;
    lines.push(
      `function ${name} --wraps ${name}`,
      "    if __vm_pkg_reachable",
      fishRouted(client, options.baseUrl, q),
      "    else",
      `        command ${name} $argv`,
      "    end",
      "end",
    );
  }
  return lines.join("\n") + "\n";
}

function fishRouted(client: ClientCommand, baseUrl: string, q: (word: string) => string): string {
  const run = [envAssignments(client, baseUrl, q), "command", client.name].filter(Boolean)
    .join(" ");
  const args = client.args?.(registryAddress(baseUrl)).map(q).join(" ");
  if (!args) return `        ${run} $argv`;
  if (!client.keepsFirstArgWith) return `        ${run} ${args} $argv`;
  return [
    `        if string match -q -- '${client.keepsFirstArgWith}*' $argv[1]`,
    `            ${run} $argv[1] ${args} $argv[2..-1]`,
    "        else",
    `            ${run} ${args} $argv`,
    "        end",
  ].join("\n");
}

/** `NAME='value' …` for one client (a prefix both POSIX shells and fish 3.1+ understand). */
function envAssignments(
  client: ClientCommand,
  baseUrl: string,
  q: (word: string) => string,
): string {
  return Object.entries(client.env?.(registryAddress(baseUrl)) ?? {})
    .map(([name, value]) => `${name}=${q(value)}`).join(" ");
}
