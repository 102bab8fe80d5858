// The registry's settings: one YAML file that `vm pkg config` edits and `vm pkg start` reads.
// Precedence is flag > file > built-in default; the defaults are the registry's own constants, so
// there is one source for each. Edits go through yaml's Document API, which keeps the user's
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
  DEFAULT_NPM_UPSTREAM,
  DEFAULT_PORT,
} from "../registry/server.ts";
import { DEFAULT_PYPI_FILES, DEFAULT_PYPI_INDEX } from "../registry/pypi/handler.ts";
import { DEFAULT_CARGO_FILES, DEFAULT_CARGO_INDEX } from "../registry/cargo/handler.ts";
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
  npmUpstream: string;
  pypiUpstream: string;
  pypiFilesUpstream: string;
  cargoUpstream: string;
  cargoFilesUpstream: string;
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

interface KeyDefinition<F extends keyof RegistrySettings = keyof RegistrySettings> {
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

const define = <F extends keyof RegistrySettings>(definition: KeyDefinition<F>) => definition;
const asWritten = (text: string) => text;
const asParsed = <T>(_text: string, value: T) => value;
/** A number where that writes back to the same text ("300"), else the text ("5m", "1.50"). */
const numberIfSame = (text: string) => String(Number(text)) === text ? Number(text) : text;

function upstreamKey<F extends keyof RegistrySettings>(
  field: F,
  meaning: string,
  fallback: string,
) {
  return define({
    field,
    meaning,
    expected: "an http(s) URL",
    defaultText: () => fallback,
    parse: (text) => normalizeHttpUrl(text) as RegistrySettings[F] | undefined,
    stored: asParsed,
    format: String,
    option: `--${field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} <url>`,
  });
}

function booleanKey<F extends keyof RegistrySettings>(field: F, meaning: string, option: string) {
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

function durationKey<F extends keyof RegistrySettings>(
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
function timeoutKey<F extends keyof RegistrySettings>(
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
function boundKey<F extends keyof RegistrySettings>(
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

/** The keys, in the order `show` lists them. */
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
  npm_upstream: upstreamKey("npmUpstream", "upstream npm registry", DEFAULT_NPM_UPSTREAM),
  pypi_upstream: upstreamKey("pypiUpstream", "upstream PyPI Simple API", DEFAULT_PYPI_INDEX),
  pypi_files_upstream: upstreamKey(
    "pypiFilesUpstream",
    "host PyPI files come from",
    DEFAULT_PYPI_FILES,
  ),
  cargo_upstream: upstreamKey("cargoUpstream", "upstream cargo sparse index", DEFAULT_CARGO_INDEX),
  cargo_files_upstream: upstreamKey(
    "cargoFilesUpstream",
    "where .crate files come from",
    DEFAULT_CARGO_FILES,
  ),
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

export type ConfigKey = keyof typeof DEFINITIONS;
export const CONFIG_KEYS = Object.keys(DEFINITIONS) as ConfigKey[];

/** What a key means and what it defaults to, for help texts. */
export function describeKey(key: ConfigKey, env: Env = Deno.env.get) {
  const definition: KeyDefinition = DEFINITIONS[key];
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
): Promise<Settings> {
  const text = await readConfigText(path);
  const fromFile = text === undefined ? new Map<ConfigKey, string>() : readValues(text, path, env);
  const values: Record<string, unknown> = {};
  for (const key of CONFIG_KEYS) {
    const definition: KeyDefinition = DEFINITIONS[key];
    const override = overrides[key];
    values[definition.field] = override !== undefined
      ? checkSettingText(key, override, env)
      : definition.parse(fromFile.get(key) ?? definition.defaultText(env), env);
  }
  return {
    ...values as unknown as RegistrySettings,
    path,
    fileExists: text !== undefined,
    fromFile: Object.fromEntries(fromFile),
  };
}

/** The value of one key's text, or a SettingsError saying what is expected. */
export function checkSettingText(
  key: ConfigKey,
  text: string,
  env: Env = Deno.env.get,
): RegistrySettings[keyof RegistrySettings] {
  const definition: KeyDefinition = DEFINITIONS[key];
  const value = definition.parse(text, env);
  if (value === undefined) {
    throw new SettingsError(
      `invalid value for ${key}: '${text}' (expected ${definition.expected})`,
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
}

/** The options `vm pkg start` takes, one per key that has one, in the order of the keys. */
export function settingOptions(env: Env = Deno.env.get): SettingOption[] {
  return CONFIG_KEYS.flatMap((key) => {
    const definition: KeyDefinition = DEFINITIONS[key];
    if (!definition.option) return [];
    return [{
      key,
      flags: definition.option,
      long: /--([a-z-]+)/.exec(definition.option)![1],
      boolean: !definition.option.includes("<"),
      meaning: definition.meaning,
      expected: definition.expected,
      defaultText: definition.defaultText(env),
    }];
  });
}

/**
 * The `vm pkg start` arguments that give a server exactly these settings (all keys with an option
 * but `except`). Values are written by each key's format(), which its parse() reads back, so a
 * server started in the background runs with the settings the starting command resolved.
 */
export function settingArgs(settings: RegistrySettings, except: ConfigKey[] = []): string[] {
  return settingOptions().filter((option) => !except.includes(option.key)).map((option) => {
    const definition: KeyDefinition = DEFINITIONS[option.key];
    const value = settings[definition.field];
    if (option.boolean) return value ? `--${option.long}` : `--no-${option.long}`;
    return `--${option.long}=${definition.format(value as never)}`;
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
export function settingText(settings: Settings, key: ConfigKey): string {
  const definition: KeyDefinition = DEFINITIONS[key];
  const written = settings.fromFile[key];
  if (definition.showWritten) return written ?? definition.defaultText(Deno.env.get);
  return String(settings[definition.field] ?? "");
}

/** A key's parsed value (seconds, bytes, booleans) for `--json`. */
export function settingValue(settings: Settings, key: ConfigKey): unknown {
  return settings[DEFINITIONS[key].field];
}

/** The key named on the command line, or a SettingsError with a suggestion. */
export function checkKey(name: string): ConfigKey {
  if (Object.hasOwn(DEFINITIONS, name)) return name as ConfigKey;
  const suggestions = suggestKeys(name);
  const hint = suggestions.length
    ? `did you mean ${orList(suggestions)}?`
    : `keys: ${CONFIG_KEYS.join(", ")}`;
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
  const definition: KeyDefinition = DEFINITIONS[key];
  const stored = definition.stored(text, checkSettingText(key, text, env));
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
function readValues(text: string, path: string, env: Env): Map<ConfigKey, string> {
  const { map, lineCounter } = parseFile(text, path);
  const values = new Map<ConfigKey, string>();
  for (const pair of map?.items ?? []) {
    const keyNode = pair.key;
    const name = isScalar(keyNode) ? String(keyNode.value) : String(keyNode);
    const offset = keyNode?.range?.[0] ?? 0;
    const where = `in ${path} at line ${lineCounter.linePos(offset).line}`;
    if (!Object.hasOwn(DEFINITIONS, name)) {
      const suggestions = suggestKeys(name);
      const hint = suggestions.length ? ` (did you mean ${orList(suggestions)}?)` : "";
      throw new SettingsError(`unknown key '${name}' ${where}${hint}`);
    }
    const key = name as ConfigKey;
    const definition: KeyDefinition = DEFINITIONS[key];
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
function suggestKeys(name: string): ConfigKey[] {
  const wanted = asSnakeKey(name)
    .replace(/^_+/, "");
  if (Object.hasOwn(DEFINITIONS, wanted)) return [wanted as ConfigKey];
  const byPart = CONFIG_KEYS.filter((key) => wanted.length >= 3 && key.split("_").includes(wanted));
  if (byPart.length) return byPart;
  const distances = CONFIG_KEYS.map((key) => [key, editDistance(wanted, key)] as const);
  const best = Math.min(...distances.map(([, distance]) => distance));
  return best <= Math.max(2, Math.floor(wanted.length / 4))
    ? distances.filter(([, distance]) => distance === best).map(([key]) => key)
    : [];
}

const orList = (items: string[]) =>
  items.length > 1 ? `${items.slice(0, -1).join(", ")} or ${items.at(-1)}` : items[0];
