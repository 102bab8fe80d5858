// `vm init` writes a commented starter vm.yaml; `vm config validate` checks one. The file's rules
// are in src/vm/config.ts; this is the command tree and its output.
import { Command } from "@commander-js/extra-typings";
import { basename, join, relative, resolve } from "node:path";
import { findVmConfig, loadVmConfig, starterVmConfig, VM_CONFIG_FILE } from "../vm/config.ts";
import { CliError } from "../host/errors.ts";

export function initCommand(): Command {
  const init = new Command("init")
    .description(`write a commented starter ${VM_CONFIG_FILE} describing this project's VM`);
  init
    .option("--name <name>", "project name (default: the directory's name, made valid)")
    .option("--dir <dir>", "the project directory (default: the current one)")
    .option("--force", `overwrite an existing ${VM_CONFIG_FILE}`)
    .addHelpText(
      "after",
      "\nEvery key is explained in the file. Check it after editing with vm config validate." +
        "\n\nExamples:\n  vm init\n  vm init --name api --dir ~/src/api",
    )
    .action(async (options) => {
      const dir = resolve(options.dir ?? ".");
      await requireDirectory(dir);
      const name = options.name ?? projectName(basename(dir));
      const text = starterVmConfig(name);
      const path = join(dir, VM_CONFIG_FILE);
      try {
        // createNew: the "already there" check and the write are one step.
        await Deno.writeTextFile(path, text, { createNew: !options.force });
      } catch (error) {
        if (error instanceof Deno.errors.AlreadyExists) {
          throw new CliError(`${path} already exists (vm init --force overwrites it)`);
        }
        throw new CliError(`cannot write ${path}: ${(error as Error).message}`);
      }
      console.log(`vm: wrote ${path} (name: ${name}, package_registry: true)`);
      const cd = dir === resolve(".") ? "" : `cd ${shellQuote(dir)} && `;
      console.log(`next: edit it if you like (every key is explained there), then ${cd}vm create`);
    });
  return init;
}

export function vmConfigCommand(): Command {
  const config = new Command("config").description(`check this project's ${VM_CONFIG_FILE}`);
  config.command("validate")
    .description(`check a ${VM_CONFIG_FILE}: its keys, their values, and the workspace directory`)
    .argument(
      "[file]",
      `the file, or a directory holding one (default: the nearest ${VM_CONFIG_FILE} upward from ` +
        "the current directory)",
    )
    .option("--json", "print the parsed config as JSON (defaults filled in, paths absolute)")
    .addHelpText(
      "after",
      "\nA problem is one line naming the file, line and key; the exit code is then 1." +
        "\n\nExamples:\n  vm config validate\n  vm config validate ~/src/api/vm.yaml" +
        "\n  vm config validate --json | jq .ports",
    )
    .action(async (file, options) => {
      const path = await configToCheck(file);
      const vm = await loadVmConfig(path);
      if (options.json) {
        console.log(JSON.stringify(vm, null, 2));
        return;
      }
      const registry = vm.packageRegistry ? "on" : "off";
      console.log(`${path}: valid (name: ${vm.name}, image: ${vm.image}, registry: ${registry})`);
    });
  return config;
}

/** The file to check, as the user will recognize it: as given, or relative to here when found. */
async function configToCheck(file: string | undefined): Promise<string> {
  if (file !== undefined) {
    const info = await Deno.stat(file).catch(() => undefined);
    return info?.isDirectory ? join(file, VM_CONFIG_FILE) : file;
  }
  const found = await findVmConfig(Deno.cwd());
  if (!found) {
    throw new CliError(
      `no ${VM_CONFIG_FILE} in ${Deno.cwd()} or any directory above it (vm init writes one)`,
    );
  }
  return relative(Deno.cwd(), found) || found;
}

async function requireDirectory(dir: string): Promise<void> {
  const info = await Deno.stat(dir).catch(() => undefined);
  if (!info?.isDirectory) throw new CliError(`no such directory: ${dir}`);
}

/**
 * A valid project name from a directory name ("My App" → "my-app"). Same rule as the file's `name`
 * key: lowercase letters, digits, '.', '_' and '-', starting with a letter or digit, ≤ 63 long.
 */
function projectName(dirName: string): string {
  const name = dirName.toLowerCase().replace(/[^a-z0-9_.-]+/g, "-").replace(/^[^a-z0-9]+/, "")
    .slice(0, 63).replace(/[-_.]+$/, "");
  return name || "project";
}

/** A word the shell reads back unchanged (the hint is meant to be pasted). */
function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}
