// Copy-paste commands for the dashboard, built from the ecosystem descriptors' own client set-up
// (the environment and arguments `vm pkg use` gives each command), so a snippet sends a client to
// this registry exactly as `vm pkg exec` would. Only the verb that installs one package and how a
// version is written are the dashboard's own knowledge.
import { type Ecosystem, registryAddress } from "../ecosystem.ts";

/** How each command installs one package, by command name; commands not here get no snippet. */
const INSTALL_VERB: Readonly<Record<string, string>> = {
  npm: "install",
  pnpm: "add",
  yarn: "add",
  pip: "install",
  uv: "pip install",
  cargo: "add",
  go: "get",
};

/** How a version is attached to a name, by ecosystem id. */
const VERSION_JOIN: Readonly<Record<string, string>> = { pypi: "==" };

/** A word as the shell reads it: bare when it holds nothing special, else single-quoted. */
export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9@%+=:,./_-]+$/.test(word)) return word;
  return `'${word.replaceAll("'", `'"'"'`)}'`;
}

export interface Snippet {
  client: string;
  command: string;
}

/** One command per client of the ecosystem that installs `name` (at `version`) through `baseUrl`. */
export function installSnippets(
  ecosystem: Ecosystem,
  baseUrl: string,
  name: string,
  version?: string,
): Snippet[] {
  const address = registryAddress(baseUrl);
  const spec = version === undefined
    ? name
    : `${name}${VERSION_JOIN[ecosystem.id] ?? "@"}${version}`;
  return ecosystem.clients.commands.flatMap((command) => {
    const verb = INSTALL_VERB[command.name];
    if (!verb) return [];
    const env = Object.entries(command.env?.(address) ?? {})
      .map(([key, value]) => `${key}=${shellQuote(value)}`);
    const args = (command.args?.(address) ?? []).map(shellQuote);
    return [{
      client: command.name,
      command: [...env, command.name, ...args, verb, shellQuote(spec)].join(" "),
    }];
  });
}

/** The shell lines that point an ecosystem's clients at `baseUrl` for this shell session. */
export function exportLines(ecosystem: Ecosystem, baseUrl: string): string[] {
  const address = registryAddress(baseUrl);
  const lines = new Map<string, string>();
  for (const command of ecosystem.clients.commands) {
    for (const [key, value] of Object.entries(command.env?.(address) ?? {})) {
      lines.set(key, `export ${key}=${shellQuote(value)}`);
    }
  }
  return [...lines.values()];
}

/** The user-level files that route the clients for good (what VMs get), path → content. */
export function userFiles(ecosystem: Ecosystem, baseUrl: string): Record<string, string> {
  return ecosystem.clients.userFiles?.(registryAddress(baseUrl)) ?? {};
}
