// `vm pkg use | exec | ping`: route the package clients of this host through the registry, for a
// whole shell (use) or one command (exec), falling back to the public registries whenever the
// registry does not answer. The routing itself is in src/clients.
import { type Command, InvalidArgumentError, Option } from "@commander-js/extra-typings";
import { basename } from "node:path";
import { loadSettings, resolveDataDir } from "../config/settings.ts";
import { findServer } from "../daemon/server_record.ts";
import { selfCommand } from "../daemon/self_command.ts";
import { DEFAULT_HOST } from "../registry/defaults.ts";
import { allClientsEnv, clientBaseUrl, ROUTED_CLIENTS, routedArgs } from "../clients/routing.ts";
import { detectShell, type Shell, shellHook, SHELLS } from "../clients/shell_hook.ts";
import { CliError } from "../host/errors.ts";
import { runPassingThrough } from "../host/terminal_child.ts";
import { DATA_HELP, parseHttpUrl, parsePort, parseSeconds } from "./options.ts";

const PING_TIMEOUT_MS = 2000;

function parseShell(value: string): Shell {
  if (!(SHELLS as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(`must be one of ${SHELLS.join(", ")}`);
  }
  return value as Shell;
}

export function addClientCommands(pkg: Command): void {
  pkg.command("use")
    .description(`print shell code that routes ${ROUTED_CLIENTS.join(", ")} through the registry`)
    .addOption(
      new Option("--shell <shell>", "bash, zsh or fish (default: detected)").argParser(parseShell),
    )
    .option(
      "-p, --port <port>",
      "the registry's port on this host (default: the running one's, else `port` in the config)",
      parsePort,
    )
    .option("--ttl <seconds>", "how long one health check is trusted", parseSeconds, 5)
    .option("--data <dir>", DATA_HELP)
    .addHelpText(
      "after",
      [
        "",
        "The clients go through the registry while it answers and straight to the public",
        "registries when it does not, so a stopped registry never breaks a command.",
        "",
        "Examples:",
        '  eval "$(vm pkg use)"                 # bash or zsh, e.g. in ~/.bashrc',
        "  vm pkg use --shell fish | source     # fish, e.g. in ~/.config/fish/config.fish",
      ].join("\n"),
    )
    .action(async (options) => {
      const shell = options.shell ?? detectShell(parentCommand(), Deno.env.get("SHELL"));
      if (!shell) {
        throw new CliError("cannot tell which shell this is: pass --shell bash, zsh or fish");
      }
      const baseUrl = options.port !== undefined
        ? clientBaseUrl(DEFAULT_HOST, options.port)
        : await defaultBaseUrl(options.data);
      const ping = selfCommand(["pkg", "ping"]);
      console.log(
        shellHook(shell, {
          baseUrl,
          ttlSeconds: options.ttl,
          pingCommand: [ping.command, ...ping.args],
        }).trimEnd(),
      );
    });

  pkg.command("exec")
    .description("run one command with its package installs routed through the registry")
    .argument("<command>", "the command to run, e.g. npm")
    .argument("[args...]", "its arguments")
    .option("--url <url>", "registry URL (default: the one running on this host)", parseHttpUrl)
    .option("--data <dir>", DATA_HELP)
    .passThroughOptions()
    .addHelpText(
      "after",
      [
        "",
        "stdin, stdout, stderr and the exit status pass through. When the registry does not",
        "answer, the command runs unchanged after a one-line warning. cargo gets the crates.io",
        "replacement as --config arguments (it has no environment variable for it).",
        "",
        "Examples:",
        "  vm pkg exec npm install",
        "  vm pkg exec pip install -r requirements.txt",
        "  vm pkg exec cargo fetch",
      ].join("\n"),
    )
    .action(async (command, args, options) => {
      const baseUrl = options.url ?? await defaultBaseUrl(options.data);
      const up = await answers(baseUrl);
      if (!up) {
        console.error(
          `vm pkg: no registry answers at ${baseUrl}; running ${basename(command)} unchanged`,
        );
      }
      const code = await runPassingThrough(
        command,
        up ? routedArgs(command, args, baseUrl) : args,
        up ? allClientsEnv(baseUrl) : {},
      );
      if (code !== 0) throw new CliError("", code);
    });

  pkg.command("ping")
    .description("check that a registry answers (exit 0) or not (exit 3)")
    .option("--url <url>", "registry URL (default: the one running on this host)", parseHttpUrl)
    .option("-q, --quiet", "print nothing")
    .option("--data <dir>", DATA_HELP)
    .action(async (options) => {
      const baseUrl = options.url ?? await defaultBaseUrl(options.data);
      const up = await answers(baseUrl);
      if (!options.quiet) console.log(up ? `ok: ${baseUrl}` : `no registry answers at ${baseUrl}`);
      if (!up) throw new CliError("", 3);
    });
}

/** The running registry's client URL, else where the config says the registry listens. */
async function defaultBaseUrl(dataFlag: string | undefined): Promise<string> {
  const found = await findServer(await resolveDataDir(dataFlag));
  if (found.state !== "stopped") return clientBaseUrl(found.record.hostname, found.record.port);
  const settings = await loadSettings();
  return clientBaseUrl(settings.host, settings.port);
}

async function answers(baseUrl: string): Promise<boolean> {
  try {
    const response = await fetch(`${baseUrl}/-/health`, {
      signal: AbortSignal.timeout(PING_TIMEOUT_MS),
    });
    const body = await response.json().catch(() => undefined);
    return response.ok && body?.ok === true;
  } catch {
    return false;
  }
}

/** The command name of this process's parent (the shell that runs `eval "$(vm pkg use)"`). */
function parentCommand(): string | undefined {
  try {
    const output = new Deno.Command("ps", {
      args: ["-o", "comm=", "-p", String(Deno.ppid)],
      stdout: "piped",
      stderr: "null",
    }).outputSync();
    return output.success ? new TextDecoder().decode(output.stdout).trim() : undefined;
  } catch {
    return undefined;
  }
}
