// The registry's settings: one YAML file that `vm pkg config` edits and `vm pkg start` reads.
// Precedence is flag > file > built-in default; the defaults are the registry's own constants, so
// there is one source for each. Each key is declared once (its parser, default, help and start
// option); the per-ecosystem upstream keys come from the ecosystems' descriptors, so an ecosystem
// added to the list (src/registry/ecosystems.ts) gets its config keys, `vm pkg start` flags and
// server arguments without a line here. Edits go through yaml's Document API, which keeps the user's
// comments and key order (a plain parse/stringify round trip would drop the comments).
import { asSnakeKey, editDistance } from "./edit_distance.ts";
import { dirname, isAbsolute, join, normalize, resolve } from "node:path";
import {
  type Document,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  type YAMLMap,
} from "yaml";
import { CliError } from "../host/errors.ts";
import {
  DEFAULT_HOST,
  DEFAULT_METADATA_MAX_STALE_SECONDS,
  DEFAULT_METADATA_TTL_SECONDS,
  DEFAULT_PORT,
} from "../registry/defaults.ts";
import type { Ecosystem, UpstreamSetting } from "../registry/ecosystem.ts";
import { ECOSYSTEMS } from "../registry/ecosystems.ts";
import { DEFAULT_LIMITS } from "../upstream/http_client.ts";
import {
  DEFAULT_HEADER_TIMEOUT_SECONDS,
  DEFAULT_IDLE_TIMEOUT_SECONDS,
  DEFAULT_REQUEST_TIMEOUT_SECONDS,
  descriptorLimit,
  maxConnectionsFor,
} from "../registry/listener.ts";
import { defaultDataDir } from "../store/data_dir.ts";

type Env = (name: string) => string | undefined;

/**
 * A mistake in the config file or in a config value, said in one line. It is a CliError (exit 1)
 * because every caller is a command, and `vm pkg stop` failing on a broken file should read the
 * same as `vm pkg config show` failing on it.
 */
export class SettingsError extends CliError {
  constructor(message: string) {
    super(message);
    this.name = "SettingsError";
  }
}

/** The settings as the registry uses them. */
export interface RegistrySettings {
  port: number;
  host: string;
  dataDir: string;
  /** Upstream URLs by config key (`npm_upstream`…): every ecosystem's upstream settings. */
  upstreams: Record<string, string>;
  metadataTtlSeconds: number;
  /** How long past the TTL a document is still answered at once while it is refreshed. */
  metadataMaxStaleSeconds: number;
  /** null means no limit. */
  maxCacheSizeBytes: number | null;
  /** The largest upstream document read (after decompression). */
  maxDocumentSizeBytes: number;
  /** The largest package file read when neither its Content-Length nor its index says less. */
  maxFileSizeBytes: number;
  /** Client connections open at once; null: derived from the open-file limit at start. */
  maxConnections: number | null;
  /** How long a connection has to send a complete request head. */
  headerTimeoutSeconds: number;
  /** How long a kept-alive connection, or a request with no byte moving, may sit idle. */
  idleTimeoutSeconds: number;
  /** How long a whole request (head and body) may take to arrive. */
  requestTimeoutSeconds: number;
  /** Serve only what is cached; never contact an upstream. */
  offline: boolean;
  logRequests: boolean;
}

export interface Settings extends RegistrySettings {
  /** The config file (it may not exist). */
  readonly path: string;
  readonly fileExists: boolean;
  /** The keys the file sets, with their text as written there; the others are defaults. */
  readonly fromFile: Readonly<Partial<Record<ConfigKey, string>>>;
}

/** The settings a key sets directly (the upstream keys set one entry of `upstreams`). */
type PlainField = Exclude<keyof RegistrySettings, "upstreams">;

interface KeyDefinition<F extends PlainField = PlainField> {
  field: F;
  meaning: string;
  /** What a valid value looks like, for error messages. */
  expected: string;
  /** The default, written the way a user would write it. */
  defaultText(env: Env): string;
  /** The value, or undefined when the text is not valid. */
  parse(text: string, env: Env): RegistrySettings[F] | undefined;
  /** What `set` writes into the file: typed scalars read better there than quoted strings. */
  stored(text: string, value: RegistrySettings[F]): unknown;
  /**
   * The value as text that parse() reads back as the same value: how `vm pkg start` hands its
   * settings to the server it starts in the background (or in a container).
   */
  format(value: RegistrySettings[F]): string;
  /** `get` and `show` print the text as written ("5m", "10GB") instead of the parsed value. */
  showWritten?: boolean;
  /** The `vm pkg start` option that sets it, e.g. "-p, --port <port>"; booleans get --no-X too. */
  option?: string;
}

const define = <F extends PlainField>(definition: KeyDefinition<F>) => definition;
const asWritten = (text: string) => text;
const asParsed = <T>(_text: string, value: T) => value;
/** A number where that writes back to the same text ("300"), else the text ("5m", "1.50"). */
const numberIfSame = (text: string) => String(Number(text)) === text ? Number(text) : text;

function booleanKey<F extends PlainField>(field: F, meaning: string, option: string) {
  return define({
    field,
    meaning,
    expected: "true or false",
    defaultText: () => "false",
    parse: (text) =>
      (text === "true" ? true : text === "false" ? false : undefined) as
        | RegistrySettings[F]
        | undefined,
    stored: asParsed,
    format: String,
    option,
  });
}

function durationKey<F extends PlainField>(
  field: F,
  meaning: string,
  fallbackSeconds: number,
  option: string,
) {
  return define({
    field,
    meaning,
    expected: "a number of seconds, or with a unit: 300, 5m, 1h, 1d",
    // Whole days read better as days ("3d", not "259200").
    defaultText: () =>
      fallbackSeconds >= 86400 && fallbackSeconds % 86400 === 0
        ? `${fallbackSeconds / 86400}d`
        : String(fallbackSeconds),
    parse: (text) => parseDuration(text) as RegistrySettings[F] | undefined,
    stored: numberIfSame,
    format: String,
    showWritten: true,
    option,
  });
}

/** A duration that must be a bound: 0 is refused. */
function timeoutKey<F extends PlainField>(
  field: F,
  meaning: string,
  fallbackSeconds: number,
  option: string,
) {
  return define({
    ...durationKey(field, meaning, fallbackSeconds, option),
    expected: "a number of seconds above 0, or with a unit: 30, 90s, 5m",
    parse: (text) => {
      const seconds = parseDuration(text);
      return (seconds !== undefined && seconds > 0 ? seconds : undefined) as
        | RegistrySettings[F]
        | undefined;
    },
  });
}

/** A size that must be a bound: "unlimited" and 0 are refused. */
function boundKey<F extends PlainField>(
  field: F,
  meaning: string,
  fallbackBytes: number,
  option: string,
) {
  return define({
    field,
    meaning,
    expected: "a size such as 64MB or 2GB (units of 1024)",
    defaultText: () => sizeText(fallbackBytes),
    parse: (text) => (parseSize(text) ?? undefined) as RegistrySettings[F] | undefined,
    stored: numberIfSame,
    format: String,
    showWritten: true,
    option,
  });
}

/** The server's own keys, in the order `show` lists them (the upstream keys follow data_dir). */
const DEFINITIONS = {
  port: define({
    field: "port",
    meaning: "port to listen on",
    expected: "a port number from 1 to 65535",
    defaultText: () => String(DEFAULT_PORT),
    parse: (text) => /^\d+$/.test(text) && +text >= 1 && +text <= 65535 ? +text : undefined,
    stored: asParsed,
    format: String,
    option: "-p, --port <port>",
  }),
  host: define({
    field: "host",
    meaning: "address to listen on; 0.0.0.0 means every interface",
    expected: "an IP address or host name, e.g. 127.0.0.1",
    defaultText: () => DEFAULT_HOST,
    parse: (text) => /^[A-Za-z0-9.:-]+$/.test(text) ? text : undefined,
    stored: asWritten,
    format: String,
    option: "--host <addr>",
  }),
  data_dir: define({
    field: "dataDir",
    meaning: "cache, metadata and log; VM_PKG_DATA and --data win over it",
    expected: "an absolute path (~ allowed)",
    // The default without VM_PKG_DATA: the environment variable is applied above the file.
    defaultText: (env) =>
      resolve(defaultDataDir((name) => name === "VM_PKG_DATA" ? undefined : env(name))),
    parse: parseDirectory,
    // As written: a `~` stays portable between machines.
    stored: asWritten,
    format: String,
    option: "--data <dir>",
  }),
  metadata_ttl: durationKey(
    "metadataTtlSeconds",
    "how long cached metadata is fresh: 300 (seconds), 5m, 1h",
    DEFAULT_METADATA_TTL_SECONDS,
    "--ttl <duration>",
  ),
  metadata_max_stale: durationKey(
    "metadataMaxStaleSeconds",
    "how long past the TTL metadata is still answered at once while it is refreshed " +
      "in the background (later: refreshed first)",
    DEFAULT_METADATA_MAX_STALE_SECONDS,
    "--max-stale <duration>",
  ),
  max_cache_size: define({
    field: "maxCacheSizeBytes",
    meaning: "cache size limit: least recently used public files go first (10GB, 500MB, unlimited)",
    expected: "a size such as 10GB or 500MB (units of 1024), or 0 or unlimited for no limit",
    defaultText: () => "unlimited",
    parse: parseSize,
    stored: numberIfSame,
    format: (bytes) => bytes === null ? "unlimited" : String(bytes),
    showWritten: true,
    option: "--max-cache-size <size>",
  }),
  max_document_size: boundKey(
    "maxDocumentSizeBytes",
    "largest upstream document (packument, project page, index file) read, counted " +
      "decompressed: a bigger one is refused and not cached",
    DEFAULT_LIMITS.maxDocumentBytes,
    "--max-document-size <size>",
  ),
  max_file_size: boundKey(
    "maxFileSizeBytes",
    "largest package file downloaded when neither its Content-Length nor its index says " +
      "its size: a longer body is cut off and not stored",
    DEFAULT_LIMITS.maxFileBytes,
    "--max-file-size <size>",
  ),
  max_connections: define({
    field: "maxConnections",
    meaning: "client connections open at once, over every listen address: at the cap the one " +
      "idle longest is closed to make room, and new ones are refused while all are busy " +
      "(auto: from the open-file limit, leaving room for files and upstream sockets)",
    expected: "a whole number of connections, or auto",
    defaultText: () => "auto",
    parse: (text) =>
      text === "auto" ? null : /^\d{1,9}$/.test(text) && +text > 0 ? +text : undefined,
    stored: numberIfSame,
    // A background server may not read /proc/self/limits (its sandbox): `auto` is resolved by the
    // command that starts it, which runs under the same limit.
    format: (value) => String(value ?? maxConnectionsFor(descriptorLimit())),
    showWritten: true,
    option: "--max-connections <n>",
  }),
  header_timeout: timeoutKey(
    "headerTimeoutSeconds",
    "how long a connection has to send a complete request head: silent and slowly " +
      "sending ones are closed",
    DEFAULT_HEADER_TIMEOUT_SECONDS,
    "--header-timeout <duration>",
  ),
  idle_timeout: timeoutKey(
    "idleTimeoutSeconds",
    "how long a kept-alive connection waits for its next request, and a request or " +
      "download may go without a byte moving, before the connection is closed",
    DEFAULT_IDLE_TIMEOUT_SECONDS,
    "--idle-timeout <duration>",
  ),
  request_timeout: timeoutKey(
    "requestTimeoutSeconds",
    "how long a whole request, head and body (an upload), may take to arrive",
    DEFAULT_REQUEST_TIMEOUT_SECONDS,
    "--request-timeout <duration>",
  ),
  offline: booleanKey(
    "offline",
    "serve only what is cached and never contact an upstream (a miss answers 503)",
    "--offline",
  ),
  log_requests: booleanKey("logRequests", "log one line per request", "--log-requests"),
} satisfies Record<string, KeyDefinition>;

/** A config key's name: one of the server's own or an ecosystem's upstream key. */
export type ConfigKey = string;

/** One key as the functions below use it, whether the server's own or an ecosystem's upstream. */
export interface SettingKey extends Omit<KeyDefinition, "field"> {
  get(settings: RegistrySettings): unknown;
  put(settings: RegistrySettings, value: unknown): void;
}

/** The keys of a list of ecosystems, in the order `show` lists them. */
export class SettingKeys {
  readonly names: readonly ConfigKey[];
  readonly #keys = new Map<ConfigKey, SettingKey>();

  constructor(ecosystems: readonly Ecosystem[]) {
    for (const [name, definition] of Object.entries(DEFINITIONS) as [string, KeyDefinition][]) {
      this.#keys.set(name, {
        ...definition,
        get: (settings) => settings[definition.field],
        put: (settings, value) => {
          (settings as unknown as Record<string, unknown>)[definition.field] = value;
        },
      });
      if (name !== "data_dir") continue;
      // Where the source of packages is chosen: right after where they are kept.
      for (const setting of ecosystems.flatMap((ecosystem) => ecosystem.upstreams)) {
        if (this.#keys.has(setting.key)) {
          throw new Error(`two settings are named ${setting.key}`);
        }
        this.#keys.set(setting.key, upstreamKey(setting));
      }
    }
    this.names = [...this.#keys.keys()];
  }

  has(name: string): boolean {
    return this.#keys.has(name);
  }

  /** The key's definition; throws for a name that is not a key (checkKey says it nicely). */
  get(name: ConfigKey): SettingKey {
    const key = this.#keys.get(name);
    if (!key) throw new SettingsError(`unknown config key '${name}'`);
    return key;
  }
}

/** An ecosystem's upstream URL setting as a key: `npm_upstream`, `--npm-upstream <url>`. */
function upstreamKey(setting: UpstreamSetting): SettingKey {
  return {
    meaning: setting.meaning,
    expected: "an http(s) URL",
    defaultText: () => setting.default,
    parse: normalizeHttpUrl,
    stored: asParsed,
    format: String,
    option: `--${setting.key.replaceAll("_", "-")} <url>`,
    get: (settings) => settings.upstreams[setting.key],
    put: (settings, value) => {
      settings.upstreams[setting.key] = value as string;
    },
  };
}

/** The keys of the ecosystems this program serves (ecosystems.ts). */
export const SETTING_KEYS = new SettingKeys(ECOSYSTEMS);
export const CONFIG_KEYS: readonly ConfigKey[] = SETTING_KEYS.names;

/** What a key means and what it defaults to, for help texts. */
export function describeKey(key: ConfigKey, env: Env = Deno.env.get, keys = SETTING_KEYS) {
  const definition = keys.get(key);
  return {
    meaning: definition.meaning,
    expected: definition.expected,
    default: definition.defaultText(env),
  };
}

// --- Values -------------------------------------------------------------------------------------

/** The URL without trailing slashes, or undefined when it is not http(s). */
export function normalizeHttpUrl(text: string): string | undefined {
  try {
    const url = new URL(text);
    if (url.protocol !== "http:" && url.protocol !== "https:") return undefined;
  } catch {
    return undefined;
  }
  return text.replace(/\/+$/, "");
}

function parseDirectory(text: string, env: Env): string | undefined {
  const home = env("HOME") ?? env("USERPROFILE");
  const expanded = text === "~" || text.startsWith("~/")
    ? home ? join(home, text.slice(1)) : undefined
    : text;
  if (!expanded || !isAbsolute(expanded)) return undefined;
  const path = normalize(expanded);
  return path.length > 1 ? path.replace(/[\\/]+$/, "") : path;
}

const SECONDS_PER_UNIT: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** "300", "300s", "5m", "1.5h", "1d" → seconds. */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)([smhd]?)$/.exec(text);
  if (!match) return undefined;
  const seconds = Number(match[1]) * SECONDS_PER_UNIT[match[2] || "s"];
  return Number.isSafeInteger(Math.ceil(seconds)) ? seconds : undefined;
}

const SIZE_POWERS: Record<string, number> = { "": 0, k: 1, m: 2, g: 3, t: 4 };

/** Bytes as parseSize reads them back, in the largest whole unit: 64MB, 2GB. */
function sizeText(bytes: number): string {
  for (const [unit, power] of [["TB", 4], ["GB", 3], ["MB", 2], ["KB", 1]] as const) {
    if (bytes % 1024 ** power === 0) return `${bytes / 1024 ** power}${unit}`;
  }
  return String(bytes);
}

/**
 * "10GB", "500 MB", "1.5GiB", "1048576" → bytes; "0" and "unlimited" → null (no limit). Units are
 * powers of 1024 whether written KB or KiB: that is how `vm pkg status` prints sizes.
 */
export function parseSize(text: string): number | null | undefined {
  if (/^unlimited$/i.test(text)) return null;
  const match = /^(\d+(?:\.\d+)?) ?(?:([kmgt])(?:i?b)?|b)?$/i.exec(text);
  if (!match) return undefined;
  const bytes = Math.round(Number(match[1]) * 1024 ** SIZE_POWERS[(match[2] ?? "").toLowerCase()]);
  if (!Number.isSafeInteger(bytes)) return undefined;
  return bytes === 0 ? null : bytes;
}

// --- The file -----------------------------------------------------------------------------------

/**
 * `$VM_PKG_CONFIG`, else `$XDG_CONFIG_HOME/vm/pkg.yaml` (`~/.config/vm/pkg.yaml`); on macOS
 * `~/Library/Application Support/vm/pkg.yaml`, the platform's place for settings.
 */
export function configPath(env: Env = Deno.env.get): string {
  const explicit = env("VM_PKG_CONFIG");
  if (explicit) return resolve(explicit);
  const home = env("HOME") ?? env("USERPROFILE") ?? ".";
  if (Deno.build.os === "darwin") {
    return join(home, "Library", "Application Support", "vm", "pkg.yaml");
  }
  if (Deno.build.os === "windows") {
    return join(env("APPDATA") ?? join(home, "AppData", "Roaming"), "vm", "pkg.yaml");
  }
  const xdg = env("XDG_CONFIG_HOME");
  // A relative XDG_CONFIG_HOME is invalid per the XDG spec and ignored.
  return resolve(xdg && isAbsolute(xdg) ? xdg : join(home, ".config"), "vm", "pkg.yaml");
}

const HEADER = [
  " Settings of `vm pkg`, the package registry on this host.",
  " Change them with `vm pkg config set KEY VALUE` (comments and order are kept), list them and",
  " their defaults with `vm pkg config show`. A running registry uses changes after a restart.",
].join("\n");

/** Texts that win over the file, by key: the options of `vm pkg start`. */
export type SettingOverrides = Partial<Record<ConfigKey, string>>;

/**
 * Reads the file and the defaults; `overrides` win over both. Every value, whichever of the three
 * it comes from, goes through its key's one parser. Throws SettingsError for any problem.
 */
export async function loadSettings(
  path: string = configPath(),
  env: Env = Deno.env.get,
  overrides: SettingOverrides = {},
  keys: SettingKeys = SETTING_KEYS,
): Promise<Settings> {
  const text = await readConfigText(path);
  const fromFile = text === undefined
    ? new Map<ConfigKey, string>()
    : readValues(text, path, env, keys);
  const values = { upstreams: {} } as RegistrySettings;
  for (const name of keys.names) {
    const key = keys.get(name);
    const override = overrides[name];
    key.put(
      values,
      override !== undefined
        ? checkSettingText(name, override, env, keys)
        : key.parse(fromFile.get(name) ?? key.defaultText(env), env),
    );
  }
  return {
    ...values,
    path,
    fileExists: text !== undefined,
    fromFile: Object.fromEntries(fromFile),
  };
}

/** The value of one key's text, or a SettingsError saying what is expected. */
export function checkSettingText(
  name: ConfigKey,
  text: string,
  env: Env = Deno.env.get,
  keys: SettingKeys = SETTING_KEYS,
): unknown {
  const key = keys.get(name);
  const value = key.parse(text, env);
  if (value === undefined) {
    throw new SettingsError(
      `invalid value for ${name}: '${text}' (expected ${key.expected})`,
    );
  }
  return value;
}

/** A `vm pkg start` option that sets a key. */
export interface SettingOption {
  key: ConfigKey;
  /** Commander's flags, e.g. "-p, --port <port>" or "--offline". */
  flags: string;
  /** The long flag without dashes, e.g. "port"; a boolean also has "--no-" + this. */
  long: string;
  boolean: boolean;
  meaning: string;
  expected: string;
  defaultText: string;
  /** Whether the key's parser takes this text (what the option checks as it is parsed). */
  accepts(text: string): boolean;
}

/** The options `vm pkg start` takes, one per key that has one, in the order of the keys. */
export function settingOptions(
  env: Env = Deno.env.get,
  keys: SettingKeys = SETTING_KEYS,
): SettingOption[] {
  return keys.names.flatMap((name) => {
    const key = keys.get(name);
    if (!key.option) return [];
    return [{
      key: name,
      flags: key.option,
      long: /--([a-z-]+)/.exec(key.option)![1],
      boolean: !key.option.includes("<"),
      meaning: key.meaning,
      expected: key.expected,
      defaultText: key.defaultText(env),
      accepts: (text: string) => key.parse(text, env) !== undefined,
    }];
  });
}

/**
 * The `vm pkg start` arguments that give a server exactly these settings (all keys with an option
 * but `except`). Values are written by each key's format(), which its parse() reads back, so a
 * server started in the background runs with the settings the starting command resolved.
 */
export function settingArgs(
  settings: RegistrySettings,
  except: readonly ConfigKey[] = [],
  keys: SettingKeys = SETTING_KEYS,
): string[] {
  return settingOptions(Deno.env.get, keys).filter((option) => !except.includes(option.key))
    .map((option) => {
      const key = keys.get(option.key);
      const value = key.get(settings);
      if (option.boolean) return value ? `--${option.long}` : `--no-${option.long}`;
      return `--${option.long}=${key.format(value as never)}`;
    });
}

/**
 * The data directory a `vm pkg` command works on: --data, else $VM_PKG_DATA, else `data_dir` from
 * the config file, else the platform default. The file is read only when it decides.
 */
export async function resolveDataDir(flag?: string, env: Env = Deno.env.get): Promise<string> {
  if (flag) return flag;
  const fromEnv = env("VM_PKG_DATA");
  if (fromEnv) return fromEnv;
  return (await loadSettings(configPath(env), env)).dataDir;
}

/** A key's text for `get` and `show`: as written for sizes and durations, else as parsed. */
export function settingText(settings: Settings, name: ConfigKey, keys = SETTING_KEYS): string {
  const key = keys.get(name);
  const written = settings.fromFile[name];
  if (key.showWritten) return written ?? key.defaultText(Deno.env.get);
  return String(key.get(settings) ?? "");
}

/** A key's parsed value (seconds, bytes, booleans) for `--json`. */
export function settingValue(settings: Settings, name: ConfigKey, keys = SETTING_KEYS): unknown {
  return keys.get(name).get(settings);
}

/** The key named on the command line, or a SettingsError with a suggestion. */
export function checkKey(name: string, keys: SettingKeys = SETTING_KEYS): ConfigKey {
  if (keys.has(name)) return name;
  const suggestions = suggestKeys(name, keys);
  const hint = suggestions.length
    ? `did you mean ${orList(suggestions)}?`
    : `keys: ${keys.names.join(", ")}`;
  throw new SettingsError(`unknown config key '${name}' (${hint})`);
}

/** Sets one key; returns the value as written to the file. Creates the file when missing. */
export async function setSetting(
  name: string,
  text: string,
  path: string = configPath(),
  env: Env = Deno.env.get,
): Promise<string> {
  const key = checkKey(name);
  const stored = SETTING_KEYS.get(key).stored(text, checkSettingText(key, text, env) as never);
  await editFile(path, (document) => {
    document.setIn([key], stored);
    return true;
  });
  return String(stored);
}

/** Removes one key, or every key (also unknown ones), keeping comments. Returns those removed. */
export async function resetSettings(
  name?: string,
  path: string = configPath(),
): Promise<string[]> {
  const key = name === undefined ? undefined : checkKey(name);
  let removed: string[] = [];
  await editFile(path, (document) => {
    if (!isMap(document.contents)) return false;
    removed = removePairs(document, document.contents, key);
    return removed.length > 0;
  });
  return removed;
}

async function readConfigText(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw new SettingsError(`cannot read the config file ${path}: ${(error as Error).message}`);
  }
}

function parseFile(text: string, path: string) {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter });
  const [error] = document.errors;
  if (error) {
    const position = error.linePos?.[0];
    const where = position ? ` at line ${position.line}, column ${position.col}` : "";
    const message = error.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "");
    throw new SettingsError(`invalid YAML in ${path}${where}: ${message}`);
  }
  const contents = document.contents;
  if (contents !== null && !isMap(contents)) {
    throw new SettingsError(
      `${path} should hold \`key: value\` lines (see vm pkg config show), not a single value or list`,
    );
  }
  return { document, map: contents, lineCounter };
}

/** The file's keys and their text, checked against the key table, in file order. */
function readValues(
  text: string,
  path: string,
  env: Env,
  keys: SettingKeys,
): Map<ConfigKey, string> {
  const { map, lineCounter } = parseFile(text, path);
  const values = new Map<ConfigKey, string>();
  for (const pair of map?.items ?? []) {
    const keyNode = pair.key;
    const name = isScalar(keyNode) ? String(keyNode.value) : String(keyNode);
    const offset = keyNode?.range?.[0] ?? 0;
    const where = `in ${path} at line ${lineCounter.linePos(offset).line}`;
    if (!keys.has(name)) {
      const suggestions = suggestKeys(name, keys);
      const hint = suggestions.length ? ` (did you mean ${orList(suggestions)}?)` : "";
      throw new SettingsError(`unknown key '${name}' ${where}${hint}`);
    }
    const key = name;
    const definition = keys.get(key);
    const valueNode = pair.value;
    const scalar = isScalar(valueNode) && valueNode.value !== null ? valueNode.value : undefined;
    const valueText = typeof scalar === "string" || typeof scalar === "number" ||
        typeof scalar === "boolean"
      ? String(scalar)
      : undefined;
    if (valueText === undefined || definition.parse(valueText, env) === undefined) {
      const shown = valueText !== undefined
        ? `'${valueText}'`
        : isMap(valueNode)
        ? "a mapping"
        : isSeq(valueNode)
        ? "a list"
        : "no value";
      throw new SettingsError(
        `invalid value for ${key} ${where}: ${shown} (expected ${definition.expected})`,
      );
    }
    values.set(key, valueText);
  }
  return values;
}

/** Applies `edit` to the file's document and writes it back if `edit` says it changed it. */
async function editFile(path: string, edit: (document: Document) => boolean): Promise<void> {
  // Write through a symlink (dotfile managers link config files) instead of replacing it.
  const target = await Deno.realPath(path).catch(() => path);
  const text = await readConfigText(target);
  const document = text === undefined
    ? parseDocument(`#${HEADER.replaceAll("\n", "\n#")}\n`)
    : parseFile(text, target).document;
  if (!edit(document)) return;
  try {
    await writeAtomically(target, render(document));
  } catch (error) {
    throw new SettingsError(`cannot write the config file ${target}: ${(error as Error).message}`);
  }
}

function removePairs(document: Document, map: YAMLMap, key: ConfigKey | undefined): string[] {
  const removed: string[] = [];
  for (let index = map.items.length - 1; index >= 0; index--) {
    const keyNode = map.items[index].key;
    const name = isScalar(keyNode) ? String(keyNode.value) : String(keyNode);
    if (key !== undefined && name !== key) continue;
    if (index === 0 && isScalar(keyNode)) keepHeader(document, keyNode.commentBefore);
    map.items.splice(index, 1);
    removed.unshift(name);
  }
  return removed;
}

/**
 * yaml attaches the comment at the top of the file to the first key unless a blank line follows
 * it. Removing that key must not take the file's header along: the part before the last blank line
 * (all of it when there is none) moves to the document.
 */
function keepHeader(document: Document, comment: string | null | undefined): void {
  if (!comment) return;
  const blank = comment.lastIndexOf("\n\n");
  const header = blank >= 0 ? comment.slice(0, blank) : comment;
  document.commentBefore = [document.commentBefore, header].filter(Boolean).join("\n\n");
}

/** The document as text; with no keys left only its comments (yaml would write `{}` or `null`). */
function render(document: Document): string {
  const contents = document.contents;
  if (contents !== null && !(isMap(contents) && contents.items.length === 0)) {
    return document.toString();
  }
  const comments = [document.commentBefore, contents?.commentBefore, contents?.comment];
  return [...comments, document.comment].filter((comment) => comment)
    .map((comment) => comment!.split("\n").map((line) => line ? `#${line}` : "").join("\n"))
    .join("\n\n") + "\n";
}

/** Temp file + rename: a reader sees the old file or the new one, never half of one. */
async function writeAtomically(path: string, text: string): Promise<void> {
  await Deno.mkdir(dirname(path), { recursive: true });
  const mode = await Deno.stat(path).then((info) => (info.mode ?? 0o644) & 0o777, () => 0o644);
  const temp = `${path}.${Deno.pid}.tmp`;
  try {
    await Deno.writeTextFile(temp, text, { mode });
    await Deno.rename(temp, path);
  } catch (error) {
    await Deno.remove(temp).catch(() => {});
    throw error;
  }
}

// --- Suggestions --------------------------------------------------------------------------------

/** Keys a mistyped name probably meant: same words (dataDir, data-dir), a part, or a typo. */
function suggestKeys(name: string, keys: SettingKeys): ConfigKey[] {
  const wanted = asSnakeKey(name)
    .replace(/^_+/, "");
  if (keys.has(wanted)) return [wanted];
  const byPart = keys.names.filter((key) => wanted.length >= 3 && key.split("_").includes(wanted));
  if (byPart.length) return byPart;
  const distances = keys.names.map((key) => [key, editDistance(wanted, key)] as const);
  const best = Math.min(...distances.map(([, distance]) => distance));
  return best <= Math.max(2, Math.floor(wanted.length / 4))
    ? distances.filter(([, distance]) => distance === best).map(([key]) => key)
    : [];
}

const orList = (items: string[]) =>
  items.length > 1 ? `${items.slice(0, -1).join(", ")} or ${items.at(-1)}` : items[0];
