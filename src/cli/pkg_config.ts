// `vm pkg config show | get | set | reset | path`: the registry's settings file. Reading, checking
// and editing the file is in src/config/settings.ts; this is the command tree and its output.
import { Command } from "@commander-js/extra-typings";
import { findServer } from "../daemon/server_record.ts";
import {
  checkKey,
  CONFIG_KEYS,
  configPath,
  describeKey,
  loadSettings,
  resetSettings,
  resolveDataDir,
  setSetting,
  type Settings,
  settingText,
  settingValue,
} from "../config/settings.ts";

export function configCommand(): Command {
  const config = new Command("config")
    .description("show and change the registry's settings (one YAML file)")
    .addHelpText("after", keysHelp());

  config.command("show", { isDefault: true })
    .description("list every setting, marking those at their default")
    .option("--json", "print JSON for scripts (see below)")
    .addHelpText(
      "after",
      "\n--json prints {path, exists, values, defaults}: `values` maps every key to its parsed" +
        "\nvalue (metadata_ttl in seconds, max_cache_size in bytes or null for no limit)," +
        "\n`defaults` lists the keys the file does not set." +
        "\n\nExamples:\n  vm pkg config show\n  vm pkg config show --json | jq .values.port",
    )
    .action(async (options) => {
      const settings = await loadSettings();
      const defaults = CONFIG_KEYS.filter((key) => !(key in settings.fromFile));
      if (options.json) {
        const values = Object.fromEntries(
          CONFIG_KEYS.map((key) => [key, settingValue(settings, key)]),
        );
        const { path, fileExists: exists } = settings;
        console.log(JSON.stringify({ path, exists, values, defaults }, null, 2));
        return;
      }
      printSettings(settings, defaults);
    });

  config.command("get")
    .description("print one setting's value (from the file, else its default)")
    .argument("<key>", "a key from vm pkg config --help")
    .option("--json", 'print {"key", "value" (parsed), "default" (true/false)}')
    .addHelpText(
      "after",
      "\nThe value is printed as set (5m, 10GB); --json gives it parsed (seconds, bytes)." +
        "\n\nExamples:\n  vm pkg config get port\n  vm pkg config get metadata_ttl --json",
    )
    .action(async (name, options) => {
      const key = checkKey(name);
      const settings = await loadSettings();
      if (options.json) {
        const value = settingValue(settings, key);
        console.log(JSON.stringify({ key, value, default: !(key in settings.fromFile) }));
        return;
      }
      console.log(settingText(settings, key));
    });

  config.command("set")
    .description("set one value in the config file (created if missing; comments are kept)")
    .argument("<key>", "a key from vm pkg config --help")
    .argument("<value>", "the new value; it is checked before anything is written")
    .addHelpText(
      "after",
      "\nExamples:\n  vm pkg config set port 4873\n  vm pkg config set metadata_ttl 1h" +
        "\n  vm pkg config set npm_upstream https://registry.npmmirror.com" +
        "\n  vm pkg config set max_cache_size 20GB",
    )
    .action(async (name, value) => {
      const key = checkKey(name);
      const before = await runningRegistry();
      const stored = await setSetting(key, value);
      console.log(`vm pkg: ${key} = ${stored} (in ${configPath()})`);
      await reportAfterEdit(before);
    });

  config.command("reset")
    .description("remove a key from the file (back to its default), or every key")
    .argument("[key]", "the key to reset; without it, every key is removed (comments stay)")
    .addHelpText("after", "\nExamples:\n  vm pkg config reset port\n  vm pkg config reset")
    .action(async (name) => {
      const key = name === undefined ? undefined : checkKey(name);
      const before = await runningRegistry();
      const removed = await resetSettings(key);
      if (key) {
        const { default: fallback } = describeKey(key);
        console.log(
          removed.length
            ? `vm pkg: ${key} reset to its default (${fallback})`
            : `vm pkg: ${key} was not set; it is at its default (${fallback})`,
        );
      } else {
        console.log(
          removed.length
            ? `vm pkg: removed ${removed.join(", ")}; every key is at its default`
            : "vm pkg: nothing was set; every key is at its default",
        );
      }
      if (removed.length) await reportAfterEdit(before);
    });

  config.command("path")
    .description("print where the config file is (it may not exist yet)")
    .addHelpText("after", '\nExample:\n  $EDITOR "$(vm pkg config path)"')
    .action(() => console.log(configPath()));

  return config;
}

function keysHelp(): string {
  const width = Math.max(...CONFIG_KEYS.map((key) => key.length)) + 2;
  const rows = CONFIG_KEYS.map((key) => {
    const { meaning, default: fallback } = describeKey(key);
    const row = `  ${key.padEnd(width)}${meaning}`;
    const defaultText = `(default: ${fallback})`;
    // Long defaults (paths, URLs) go on a line of their own rather than wrap mid-word.
    return row.length + defaultText.length < 100
      ? `${row} ${defaultText}`
      : `${row}\n  ${"".padEnd(width)}${defaultText}`;
  });
  return [
    "",
    "Keys:",
    ...rows,
    "",
    "The file: $VM_PKG_CONFIG, else $XDG_CONFIG_HOME/vm/pkg.yaml (~/.config/vm/pkg.yaml;",
    "on macOS ~/Library/Application Support/vm/pkg.yaml). No file means every default.",
    "vm pkg start takes a flag first, then the file, then the default. A running registry",
    "uses changed settings after a restart.",
    "",
    "Examples:",
    "  vm pkg config show",
    "  vm pkg config set port 4873",
    "  vm pkg config get port",
    "  vm pkg config reset port",
  ].join("\n");
}

function printSettings(settings: Settings, defaults: string[]): void {
  console.log(
    settings.fileExists
      ? `# ${settings.path}`
      : `# ${settings.path} (no such file yet: every value is a default)`,
  );
  const width = Math.max(...CONFIG_KEYS.map((key) => key.length)) + 2;
  for (const key of CONFIG_KEYS) {
    const mark = defaults.includes(key) ? " (default)" : "";
    console.log(`${(key + ":").padEnd(width)}${settingText(settings, key)}${mark}`);
  }
  const fromEnv = Deno.env.get("VM_PKG_DATA");
  if (fromEnv) console.log(`# VM_PKG_DATA=${fromEnv} is set: vm pkg commands use it, not data_dir`);
}

interface RunningBefore {
  url: string;
  pid: number;
  dataDir: string;
}

/**
 * The registry running before an edit, if any. Looked up before the edit because a new data_dir
 * would point the lookup away from it. A file that cannot be read yet (the edit may be the fix)
 * means "unknown", not an error.
 */
async function runningRegistry(): Promise<RunningBefore | undefined> {
  const dataDir = await resolveDataDir().catch(() => undefined);
  if (!dataDir) return undefined;
  const found = await findServer(dataDir);
  return found.state === "stopped" ? undefined : { ...found.record, dataDir };
}

/** After set/reset: warn about other problems in the file, and say when a restart is due. */
async function reportAfterEdit(before: RunningBefore | undefined): Promise<void> {
  const dataDir = await resolveDataDir().catch((error) => {
    console.error(`vm pkg: warning: ${(error as Error).message}`);
    return undefined;
  });
  if (!before) return;
  const stop = dataDir === before.dataDir
    ? "vm pkg stop"
    : `vm pkg stop --data ${shellQuote(before.dataDir)}`;
  console.log(
    `vm pkg: the registry at ${before.url} (pid ${before.pid}) uses the change after a restart:` +
      ` ${stop} && vm pkg start`,
  );
}

/** A word the shell reads back unchanged (the hint above is meant to be pasted). */
function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}
