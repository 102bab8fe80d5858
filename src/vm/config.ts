// vm.yaml: what a project's developer VM is. Checked strictly, because every value ends up on a
// `docker` or npm/pip/cargo command line: a typo or a smuggled option has to stop here, with the
// key and the line, not surface later as a puzzling Docker error or run as something else.
import { asSnakeKey, editDistance } from "../config/edit_distance.ts";
import { dirname, resolve } from "node:path";
import {
  type Document,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  stringify,
} from "yaml";
import { CliError } from "../host/errors.ts";

export const VM_CONFIG_FILE = "vm.yaml";
export const DEFAULT_IMAGE = "vm-base:bookworm";
export const DEFAULT_USER = "dev";

export interface PortMapping {
  host: number;
  container: number;
  protocol: "tcp" | "udp";
}

export interface VmConfig {
  /** Absolute path of the vm.yaml it came from. */
  path: string;
  /** Project name; also names the container (vm-<name>). ^[a-z0-9][a-z0-9_.-]{0,62}$ */
  name: string;
  image: string;
  /**
   * Absolute host path mounted at /workspace; `workspace:` in the file is relative to the file's
   * dir; default: that dir. Must exist and be a directory (checked by loadVmConfig).
   */
  workspace: string;
  user: string;
  ports: PortMapping[];
  environment: Record<string, string>;
  packageRegistry: boolean;
  npmPackages: string[];
  pipPackages: string[];
  cargoPackages: string[];
  /** `network`: an existing Docker network to attach the VM to instead of the default bridge. */
  network?: string;
}

/** A mistake in a vm.yaml, in one line that starts with "FILE:LINE:" where there is a line. */
export class VmConfigError extends CliError {
  constructor(message: string) {
    super(message);
    this.name = "VmConfigError";
  }
}

const NAME = /^[a-z0-9][a-z0-9_.-]{0,62}$/;
const USER = /^[a-z_][a-z0-9_-]{0,31}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
// Loose on purpose (Docker has the final say), but it must not start with "-": that is an option.
const IMAGE = /^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$/;
const NETWORK = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const PORT = /^(\d{1,5})(?::(\d{1,5}))?(?:\/(tcp|udp))?$/;

type Fields = Omit<VmConfig, "path">;
type Node = unknown;

/** The parsed file, for the key readers: where a node is, and the node behind an alias. */
class Source {
  workspaceLine?: number;
  constructor(
    readonly path: string,
    readonly document: Document,
    readonly lines: LineCounter,
  ) {}

  line(node: Node): number | undefined {
    const offset = (node as { range?: [number] } | null)?.range?.[0];
    return offset === undefined ? undefined : this.lines.linePos(offset).line;
  }

  /** "vm.yaml:7: MESSAGE", or "vm.yaml: MESSAGE" for a node without a place. */
  error(node: Node, message: string): never {
    const line = this.line(node);
    throw new VmConfigError(`${this.path}${line ? `:${line}` : ""}: ${message}`);
  }

  /** "vm.yaml:7: ports[1]: MESSAGE". */
  fail(node: Node, what: string, message: string): never {
    this.error(node, `${what}: ${message}`);
  }

  /** `*anchor` stands for the node it names. */
  resolve(node: Node): Node {
    return isAlias(node) ? node.resolve(this.document) : node;
  }
}

/** A scalar's text as written (`1.10`, not 1.1), or undefined for no value and collections. */
function scalarText(node: Node): string | undefined {
  if (!isScalar(node) || node.value === null || node.value === undefined) return undefined;
  if (typeof node.value === "string") return node.value;
  if (typeof node.value === "number" || typeof node.value === "boolean") {
    return node.source ?? String(node.value);
  }
  return undefined;
}

/** What a node is, for "(got …)". */
function describe(node: Node): string {
  if (isSeq(node)) return "a list";
  if (isMap(node)) return "a mapping";
  const text = scalarText(node);
  return text === undefined ? "no value" : JSON.stringify(text);
}

/** One string key: present, a scalar, and matching `pattern`. */
function word(pattern: RegExp, expected: string) {
  return (node: Node, file: Source, key: string): string => {
    const text = scalarText(node);
    if (text === undefined || !pattern.test(text)) {
      file.fail(node, key, `must be ${expected} (got ${describe(node)})`);
    }
    return text;
  };
}

/** A list key; no value (`ports:` with nothing after it) is an empty list. */
function items(node: Node, file: Source, key: string, example: string): Node[] {
  if (isScalar(node) && node.value === null) return [];
  if (!isSeq(node)) file.fail(node, key, `must be a list, e.g. ${example} (got ${describe(node)})`);
  return node.items.map((item) => file.resolve(item));
}

const readName = word(
  NAME,
  "lowercase letters, digits, '.', '_' or '-', starting with a letter or digit, at most 63 long",
);
const readImage = word(IMAGE, "a Docker image such as vm-base:bookworm or python:3.12");
const readNetwork = word(NETWORK, "the name of an existing Docker network");
const readUser = word(USER, "a Linux user name such as dev (lowercase, at most 32 characters)");

/** The keys: each reads its node into fields of the config. */
const KEYS: Record<string, (node: Node, file: Source, key: string) => Partial<Fields>> = {
  name: (node, file, key) => ({ name: readName(node, file, key) }),
  image: (node, file, key) => ({ image: readImage(node, file, key) }),
  // Explicit types: a never-returning `file.fail` narrows only through annotated names.
  workspace: (node: Node, file: Source, key: string) => {
    const text = scalarText(node);
    if (!text || text.includes("\0")) {
      file.fail(node, key, `must be a directory path (got ${describe(node)})`);
    }
    // Not expanded: `~/x` would quietly become <project>/~/x.
    if (text.startsWith("~")) {
      file.fail(node, key, "~ is not expanded; write a path relative to this file, or absolute");
    }
    file.workspaceLine = file.line(node);
    return { workspace: resolve(dirname(resolve(file.path)), text) };
  },
  user: (node, file, key) => {
    const user = readUser(node, file, key);
    if (user === "root") file.fail(node, key, "must not be root: the VM runs as an ordinary user");
    return { user };
  },
  ports: (node, file, key) => ({ ports: readPorts(node, file, key) }),
  environment: (node, file, key) => ({ environment: readEnvironment(node, file, key) }),
  package_registry: (node: Node, file: Source, key: string) => {
    if (!isScalar(node) || typeof node.value !== "boolean") {
      file.fail(node, key, `must be true or false (got ${describe(node)})`);
    }
    return { packageRegistry: node.value };
  },
  npm_packages: (node, file, key) => ({ npmPackages: readPackages("npm", node, file, key) }),
  pip_packages: (node, file, key) => ({ pipPackages: readPackages("pip", node, file, key) }),
  cargo_packages: (node, file, key) => ({ cargoPackages: readPackages("cargo", node, file, key) }),
  network: (node, file, key) => ({ network: readNetwork(node, file, key) }),
};

const KEY_NAMES = Object.keys(KEYS);

function readPorts(node: Node, file: Source, key: string): PortMapping[] {
  const ports: PortMapping[] = [];
  items(node, file, key, '["3000:3000"]').forEach((item, index) => {
    const what = `${key}[${index}]`;
    const match = PORT.exec(scalarText(item) ?? "");
    const host = Number(match?.[1]);
    const container = Number(match?.[2] ?? match?.[1]);
    if (!match || [host, container].some((port) => port < 1 || port > 65535)) {
      file.fail(
        item,
        what,
        `must be a port number or HOST:CONTAINER[/udp] (got ${describe(item)})`,
      );
    }
    const protocol = match[3] === "udp" ? "udp" : "tcp";
    const taken = ports.findIndex((port) => port.host === host && port.protocol === protocol);
    if (taken >= 0) file.fail(item, what, `host port ${host} is already in ${key}[${taken}]`);
    ports.push({ host, container, protocol });
  });
  return ports;
}

function readEnvironment(node: Node, file: Source, key: string): Record<string, string> {
  if (isScalar(node) && node.value === null) return {};
  if (!isMap(node)) {
    file.fail(node, key, `must be a mapping of NAME: value lines (got ${describe(node)})`);
  }
  const environment: Record<string, string> = {};
  for (const pair of node.items) {
    const name = scalarText(pair.key) ?? String(pair.key);
    if (!ENV_NAME.test(name)) {
      file.fail(
        pair.key,
        key,
        `${JSON.stringify(name)} is not a variable name ([A-Za-z_][A-Za-z0-9_]*)`,
      );
    }
    const value = file.resolve(pair.value);
    const text = scalarText(value);
    if (text === undefined || text.includes("\0")) {
      const hint = isScalar(value) && value.value === null ? `; write ${name}: "" for empty` : "";
      file.fail(
        value ?? pair.key,
        `${key}.${name}`,
        `must be a string, number or boolean (got ${describe(value)})${hint}`,
      );
    }
    environment[name] = text;
  }
  return environment;
}

// --- Package specs -------------------------------------------------------------------------------

type Ecosystem = "npm" | "pip" | "cargo";

const VERSION = "[A-Za-z0-9.^~<>=*+_-]+";
const PIP_NAME = "[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?";
const PIP_CLAUSE = "(?:===|~=|==|!=|<=|>=|<|>)[A-Za-z0-9.*+_-]+";

/** The shapes a spec may have; each is passed to its tool as one argument, never via a shell. */
const SPECS: Record<Ecosystem, { pattern: RegExp; example: string; list: string }> = {
  npm: {
    pattern: new RegExp(`^(?:@[a-z0-9][\\w.~-]*/)?[a-z0-9][\\w.~-]*(?:@${VERSION})?$`, "i"),
    example: 'NAME, NAME@VERSION or @SCOPE/NAME@VERSION, e.g. "@types/node@20"',
    list: '[typescript, "@types/node@20"]',
  },
  pip: {
    pattern: new RegExp(
      `^${PIP_NAME}(?:\\[[\\w.-]+(?:,[\\w.-]+)*\\])?(?:${PIP_CLAUSE}(?:,${PIP_CLAUSE})*)?$`,
    ),
    example: 'NAME, NAME[EXTRA] or NAME with versions, e.g. "requests==2.32.3" or "rich>=13"',
    list: '[six, "requests==2.32.3"]',
  },
  cargo: {
    pattern: new RegExp(`^[A-Za-z][A-Za-z0-9_-]{0,63}(?:@${VERSION})?$`),
    example: 'a crate name or NAME@VERSION, e.g. "serde@1"',
    list: "[serde, ripgrep@14]",
  },
};

/** Why `spec` is refused, or undefined when it is a plain package spec. */
function specProblem(ecosystem: Ecosystem, spec: string): string | undefined {
  if (spec.startsWith("-")) return `it starts with "-", which ${ecosystem} would read as an option`;
  // "!" is left to the patterns: pip's "!=" needs it, and nothing else may have one.
  const meta = /[;&|$`'"\\(){}#\0]/.exec(spec);
  if (meta) return `it contains ${JSON.stringify(meta[0])}, a shell metacharacter`;
  if (/\s/.test(spec)) return "it contains whitespace (one package per entry, no spaces)";
  const scoped = ecosystem === "npm" && /^@[^/]+\/[^/]+$/.test(spec.split(/(?<!^)@/)[0]);
  const slashes = spec.split("/").length - 1;
  if (slashes > (scoped ? 1 : 0) || spec.includes(":")) {
    return ecosystem === "npm"
      ? "paths, URLs and git repositories are not allowed (only @scope/name has a '/')"
      : "paths and URLs are not allowed";
  }
  return SPECS[ecosystem].pattern.test(spec)
    ? undefined
    : `it is not a package spec (expected ${SPECS[ecosystem].example})`;
}

function readPackages(ecosystem: Ecosystem, node: Node, file: Source, key: string): string[] {
  return items(node, file, key, SPECS[ecosystem].list)
    .map((item, index) => {
      const spec = scalarText(item);
      if (spec === undefined) {
        file.fail(item, `${key}[${index}]`, `must be a package spec (got ${describe(item)})`);
      }
      const problem = specProblem(ecosystem, spec);
      if (problem) file.fail(item, `${key}[${index}]`, `${JSON.stringify(spec)}: ${problem}`);
      return spec;
    });
}

// --- The file ------------------------------------------------------------------------------------

/** Parses and checks; also returns the workspace key's line for loadVmConfig's errors. */
function parse(text: string, path: string): { config: VmConfig; workspaceLine?: number } {
  const lines = new LineCounter();
  const document = parseDocument(text, { lineCounter: lines });
  const [error] = document.errors;
  if (error) {
    const position = error.linePos?.[0];
    const where = position ? `:${position.line}:${position.col}` : "";
    const message = error.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "");
    throw new VmConfigError(`${path}${where}: invalid YAML: ${message}`);
  }
  const file: Source = new Source(path, document, lines);
  const contents = document.contents;
  if (contents === null || (isScalar(contents) && contents.value === null)) {
    throw new VmConfigError(
      `${path}: the file is empty; it needs at least "name: <project>" (vm init writes a starter)`,
    );
  }
  if (!isMap(contents)) {
    file.error(contents, `the file must hold key: value lines, not ${describe(contents)}`);
  }
  const fields: Partial<Fields> = {};
  for (const pair of contents.items) {
    const key = scalarText(pair.key) ?? String(pair.key);
    if (!Object.hasOwn(KEYS, key)) {
      const near = suggestKey(key);
      const hint = near ? `did you mean ${near}?` : `keys: ${KEY_NAMES.join(", ")}`;
      file.error(pair.key, `unknown key ${JSON.stringify(key)} (${hint})`);
    }
    Object.assign(fields, KEYS[key](file.resolve(pair.value), file, key));
  }
  if (fields.name === undefined) {
    throw new VmConfigError(`${path}: name is required, e.g. "name: myproject"`);
  }
  const absolute = resolve(path);
  const config: VmConfig = {
    path: absolute,
    name: fields.name,
    image: fields.image ?? DEFAULT_IMAGE,
    workspace: fields.workspace ?? dirname(absolute),
    user: fields.user ?? DEFAULT_USER,
    ports: fields.ports ?? [],
    environment: fields.environment ?? {},
    packageRegistry: fields.packageRegistry ?? false,
    npmPackages: fields.npmPackages ?? [],
    pipPackages: fields.pipPackages ?? [],
    cargoPackages: fields.cargoPackages ?? [],
  };
  if (fields.network !== undefined) config.network = fields.network;
  return { config, workspaceLine: file.workspaceLine };
}

/**
 * Parses and checks a vm.yaml's text; `path` names it in errors (as given) and anchors a relative
 * `workspace`. Pure: whether the workspace exists is loadVmConfig's question.
 */
export function parseVmConfig(text: string, path: string): VmConfig {
  return parse(text, path).config;
}

/** Reads, parses and checks a vm.yaml, and that its workspace is a directory. */
export async function loadVmConfig(path: string): Promise<VmConfig> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new VmConfigError(`${path}: no such file (vm init writes one)`);
    }
    throw new VmConfigError(`cannot read ${path}: ${(error as Error).message}`);
  }
  const { config, workspaceLine } = parse(text, path);
  const where = `${path}${workspaceLine ? `:${workspaceLine}` : ""}: workspace`;
  const info = await Deno.stat(config.workspace).catch((error) => {
    if (error instanceof Deno.errors.NotFound) {
      throw new VmConfigError(`${where}: no such directory: ${config.workspace}`);
    }
    throw new VmConfigError(`${where}: cannot read ${config.workspace}: ${error.message}`);
  });
  if (!info.isDirectory) throw new VmConfigError(`${where}: not a directory: ${config.workspace}`);
  return config;
}

/** The vm.yaml of `dir` or its nearest ancestor; undefined when there is none. */
export async function findVmConfig(dir: string): Promise<string | undefined> {
  for (let current = resolve(dir);; current = dirname(current)) {
    const candidate = resolve(current, VM_CONFIG_FILE);
    // An unreadable directory on the way up is not an error: there is just no vm.yaml to see.
    const info = await Deno.stat(candidate).catch(() => undefined);
    if (info?.isFile) return candidate;
    if (dirname(current) === current) return undefined;
  }
}

/** The commented starter for `vm init`; `name` must be a valid project name. */
export function starterVmConfig(name: string): string {
  if (!NAME.test(name)) {
    throw new VmConfigError(
      `invalid project name ${JSON.stringify(name)}: use lowercase letters, digits, '.', '_' ` +
        "or '-' (starting with a letter or digit, at most 63 characters)",
    );
  }
  // Quoted when YAML would read it as something else ("null", "123", "true").
  const yamlName = stringify(name).trim();
  return `# vm.yaml: this project's developer VM. \`vm create\` builds it from this file, and
# \`vm config validate\` checks the file. Every key but name is optional; relative paths are
# relative to this file's directory.

# Project name; the container is called vm-<name>.
# Lowercase letters, digits, '.', '_' and '-', at most 63 characters.
name: ${yamlName}

# The Docker image the VM starts from.
# image: ${DEFAULT_IMAGE}

# The host directory mounted at /workspace in the VM (default: this file's directory).
# workspace: .

# The user you are inside the VM (not root).
# user: ${DEFAULT_USER}

# Ports published on the host: "HOST:CONTAINER", "PORT" (the same on both sides), or
# "HOST:CONTAINER/udp".
ports: []
# ports:
#   - "3000:3000"
#   - "5353:53/udp"

# Environment variables in the VM; numbers and booleans become strings.
environment: {}
# environment:
#   NODE_ENV: development
#   DEBUG: true

# Install packages through \`vm pkg\`, the registry on this host: each package is downloaded once
# and then served from the host's cache to every VM.
package_registry: true

# Packages installed when the VM is created, one spec per entry (no options, paths or URLs).
npm_packages: [] # e.g. [typescript, "@types/node@20", is-number@7.0.0]
pip_packages: [] # e.g. [six, requests==2.32.3, "rich>=13"]
cargo_packages: [] # crates fetched into the VM's cargo cache, e.g. [serde, ripgrep@14]

# An existing Docker network to attach the VM to, instead of the default bridge.
# network: my-network
`;
}

// --- Suggestions ---------------------------------------------------------------------------------

/** The key a mistyped one probably meant: other spelling (npmPackages, npm-packages) or a typo. */
function suggestKey(name: string): string | undefined {
  const wanted = asSnakeKey(name);
  if (Object.hasOwn(KEYS, wanted)) return wanted;
  // "env" for environment, "npm" for npm_packages.
  const byStart = KEY_NAMES.filter((key) => wanted.length >= 3 && key.startsWith(wanted));
  if (byStart.length === 1) return byStart[0];
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(wanted.length / 4)) + 1;
  for (const key of KEY_NAMES) {
    const distance = editDistance(wanted, key);
    if (distance < bestDistance) [best, bestDistance] = [key, distance];
  }
  return best;
}
