// The `vm` command tree. Every failure ends as one line on stderr and a non-zero exit code.
import { Command, CommanderError } from "@commander-js/extra-typings";
import tab from "@bomb.sh/tab/commander";
import type { Command as PlainCommand } from "commander";
import { VERSION } from "../version.ts";
import { CliError } from "../host/errors.ts";
import { pkgCommand } from "./pkg.ts";
import { initCommand, vmConfigCommand } from "./vm_config.ts";
import { vmCommands } from "./vm.ts";

export function buildProgram(): Command {
  const program = new Command("vm")
    .description("developer VMs, and a package registry on the host that every VM installs from")
    .version(VERSION, "-V, --version", "print the version")
    // `vm --version` is the program's, `vm pkg remove x --version 1.0` the subcommand's.
    .enablePositionalOptions();
  program.addCommand(pkgCommand());
  program.addCommand(initCommand());
  program.addCommand(vmConfigCommand());
  for (const command of vmCommands()) program.addCommand(command);
  forEachCommand(program, (command) =>
    command
      .helpOption("-h, --help", "show help")
      .exitOverride()
      .showSuggestionAfterError(true)
      .configureOutput({ outputError: (message, write) => write(oneLine(message) + "\n") }));
  program.addHelpText(
    "after",
    "\nExamples:\n  vm pkg start\n  vm pkg status\n  source <(vm completions bash)",
  );
  // Added last: it walks the finished tree. The cast is needed because tab is typed against
  // plain commander while the tree uses the extra-typings flavour of the same classes.
  tab(program as unknown as PlainCommand, { completionCommandName: "completions" });
  program.commands.find((command) => command.name() === "completions")
    ?.hook("postAction", (command) => {
      if (command.args[0] === "bash") console.log(bashWithoutBashCompletion(program.name()));
    });
  return program;
}

/**
 * tab's bash script reads the command line with `_get_comp_words_by_ref`, which only the
 * bash-completion package defines; without it every word completes as if it were the first, with
 * "command not found" on each TAB. This wrapper lends a stand-in for the one call, leaving the
 * shell's functions as they were, and steps aside when bash-completion is loaded.
 */
function bashWithoutBashCompletion(name: string): string {
  return `
__${name}_complete_anywhere() {
    if declare -F _get_comp_words_by_ref >/dev/null; then
        __${name}_complete "$@"
        return
    fi
    _get_comp_words_by_ref() {
        words=("\${COMP_WORDS[@]}")
        cword=$COMP_CWORD
        cur=\${COMP_WORDS[COMP_CWORD]}
        prev=\${COMP_WORDS[COMP_CWORD-1]}
    }
    __${name}_complete "$@"
    unset -f _get_comp_words_by_ref
}
complete -F __${name}_complete_anywhere ${name}`;
}

/** Settings commander does not pass on to commands added with addCommand. */
function forEachCommand(command: Command, apply: (command: Command) => void): void {
  apply(command);
  for (const child of command.commands) forEachCommand(child as Command, apply);
}

/** Runs the CLI and returns the process exit code. */
export async function runCli(args: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(args, { from: "user" });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    if (error instanceof CliError) {
      if (error.message) console.error(`vm: error: ${error.message}`);
      return error.exitCode;
    }
    console.error(oneLine(error instanceof Error ? error.message : String(error)));
    return 1;
  }
}

/** Commander's messages span lines ("error: …\n(Did you mean …?)"); keep them to one. */
function oneLine(message: string): string {
  const text = message.trim().replace(/\s*\n\s*/g, " ").replace(/^error: /, "");
  return `vm: error: ${text}`;
}
