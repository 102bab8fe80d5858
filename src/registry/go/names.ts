// GOPROXY paths under /go/ and the module paths and versions in them, checked the way
// golang.org/x/mod/module checks them (CheckPath, UnescapePath, UnescapeVersion). In a URL every
// uppercase letter is written `!` + its lowercase (`github.com/!burnt!sushi/toml`), so that a
// case-insensitive file system or proxy cannot mix two modules up; an escaped path holds no
// uppercase letter at all. Anything that does not parse is refused before it can reach the store
// or an upstream URL: only ASCII letters, digits and `-._~/!` (and `+@` in versions) get through.
import { fileVersionProblem } from "./versions.ts";

/** Longer paths and versions exist nowhere; the bound keeps KV keys and URLs small. */
export const MAX_MODULE_PATH_LENGTH = 500;
export const MAX_VERSION_LENGTH = 200;

/** The one checksum database passed through (the go command's default GOSUMDB). */
export const SUMDB_NAME = "sum.golang.org";

export type ModuleFile = "info" | "mod" | "zip";

export type GoRoute =
  | { kind: "list"; module: string }
  | { kind: "latest"; module: string }
  /** `.info` of a version or of a query (branch, commit); `.mod` and `.zip` of versions only. */
  | { kind: "file"; module: string; version: string; file: ModuleFile }
  | { kind: "sumdb-supported" }
  | { kind: "sumdb-latest" }
  | { kind: "sumdb-lookup"; module: string; version: string }
  | { kind: "sumdb-tile"; path: string; height: number; width: number; data: boolean };

/** A path that is not a GOPROXY route (404) or names an invalid module or version (400). */
export interface GoPathProblem {
  kind: "problem";
  status: 400 | 404;
  message: string;
}

/** Parses the path after `/go/` (as the URL has it: still escaped, never percent-decoded). */
export function parseGoPath(rawPath: string): GoRoute | GoPathProblem {
  if (rawPath.startsWith("sumdb/")) return parseSumdbPath(rawPath.slice("sumdb/".length));
  const notRoute = problem(404, `not a GOPROXY path: /go/${shorten(rawPath)}`);
  if (rawPath.endsWith("/@latest")) {
    const module = unescapeModulePath(rawPath.slice(0, -"/@latest".length));
    return typeof module === "string" ? { kind: "latest", module } : module;
  }
  const at = rawPath.indexOf("/@v/");
  if (at < 0) return notRoute;
  const module = unescapeModulePath(rawPath.slice(0, at));
  if (typeof module !== "string") return module;
  const file = rawPath.slice(at + "/@v/".length);
  if (file === "list") return { kind: "list", module };
  const dot = file.lastIndexOf(".");
  const extension = file.slice(dot + 1);
  if (dot <= 0 || !(extension === "info" || extension === "mod" || extension === "zip")) {
    return notRoute;
  }
  const version = unescapeVersion(file.slice(0, dot));
  if (typeof version !== "string") return version;
  // The go command asks for .mod and .zip of canonical versions only; a query resolves via .info.
  if (extension !== "info") {
    const wrong = fileVersionProblem(module, version);
    if (wrong) return problem(400, `invalid version for ${module}: ${wrong}`);
  }
  return { kind: "file", module, version, file: extension };
}

function parseSumdbPath(rest: string): GoRoute | GoPathProblem {
  const slash = rest.indexOf("/");
  const name = slash < 0 ? rest : rest.slice(0, slash);
  const path = slash < 0 ? "" : rest.slice(slash + 1);
  if (name !== SUMDB_NAME) {
    return problem(
      404,
      `only the ${SUMDB_NAME} checksum database is proxied, not ${shorten(name)}`,
    );
  }
  if (path === "supported") return { kind: "sumdb-supported" };
  if (path === "latest") return { kind: "sumdb-latest" };
  if (path.startsWith("lookup/")) {
    const target = path.slice("lookup/".length);
    // A module path has no `@`; a version may (it is a file name), so the first one splits.
    const at = target.indexOf("@");
    if (at < 0) return problem(400, `a lookup names module@version: ${shorten(target)}`);
    const module = unescapeModulePath(target.slice(0, at));
    if (typeof module !== "string") return module;
    const version = unescapeVersion(target.slice(at + 1));
    if (typeof version !== "string") return version;
    const wrong = fileVersionProblem(module, version);
    if (wrong) return problem(400, `invalid version for ${module}: ${wrong}`);
    return { kind: "sumdb-lookup", module, version };
  }
  const tile = parseTilePath(path);
  if (tile) return tile;
  return problem(404, `not a checksum database path: /go/sumdb/${SUMDB_NAME}/${shorten(path)}`);
}

// tlog tile paths: tile/H/L/NNN or tile/H/data/NNN, N in groups of three digits with `x` before
// all but the last group, and `.p/W` for a partial tile of W < 2^H hashes.
const TILE_PATH =
  /^tile\/([1-9][0-9]?)\/(data|0|[1-9][0-9]?)\/((?:x[0-9]{3}\/){0,6}[0-9]{3})(?:\.p\/([1-9][0-9]*))?$/;

function parseTilePath(path: string): GoRoute | undefined {
  const match = TILE_PATH.exec(path);
  if (!match) return undefined;
  const height = Number(match[1]);
  if (height > 30) return undefined;
  const full = 2 ** height;
  const width = match[4] === undefined ? full : Number(match[4]);
  if (width >= full && match[4] !== undefined) return undefined;
  return { kind: "sumdb-tile", path, height, width, data: match[2] === "data" };
}

/** module.UnescapePath: the module path an escaped URL path names, or the problem with it. */
export function unescapeModulePath(escaped: string): string | GoPathProblem {
  if (escaped.length > MAX_MODULE_PATH_LENGTH) {
    return problem(400, `module path longer than ${MAX_MODULE_PATH_LENGTH} characters`);
  }
  const path = unescape(escaped);
  if (path === undefined) return problem(400, `invalid escaped module path ${shorten(escaped)}`);
  const wrong = checkModulePath(path);
  return wrong ? problem(400, `invalid module path ${shorten(path)}: ${wrong}`) : path;
}

/** module.UnescapeVersion: a version or query, a valid file name without `!`. */
export function unescapeVersion(escaped: string): string | GoPathProblem {
  if (escaped.length > MAX_VERSION_LENGTH) {
    return problem(400, `version longer than ${MAX_VERSION_LENGTH} characters`);
  }
  const version = unescape(escaped);
  if (version === undefined) return problem(400, `invalid escaped version ${shorten(escaped)}`);
  const wrong = checkElement(version, "file");
  return wrong ? problem(400, `invalid version ${shorten(version)}: ${wrong}`) : version;
}

/** module.EscapePath / EscapeVersion for a path or version already checked. */
export function escapeForUrl(text: string): string {
  return text.replace(/[A-Z]/g, (upper) => `!${upper.toLowerCase()}`);
}

/** `!x` → `X`; undefined for an uppercase letter, a `!` before anything but a-z, or non-ASCII. */
export function unescape(escaped: string): string | undefined {
  let out = "";
  let bang = false;
  for (const char of escaped) {
    if (char.charCodeAt(0) >= 0x80) return undefined;
    if (bang) {
      bang = false;
      if (char < "a" || char > "z") return undefined;
      out += char.toUpperCase();
      continue;
    }
    if (char === "!") {
      bang = true;
      continue;
    }
    if (char >= "A" && char <= "Z") return undefined;
    out += char;
  }
  return bang ? undefined : out;
}

/** module.CheckPath: why `path` is not a valid module path, or undefined. */
export function checkModulePath(path: string): string | undefined {
  if (path === "") return "empty string";
  if (path.startsWith("-")) return "leading dash";
  if (path.includes("//")) return "double slash";
  if (path.endsWith("/")) return "trailing slash";
  for (const element of path.split("/")) {
    const wrong = checkElement(element, "module");
    if (wrong) return wrong;
  }
  const first = path.split("/")[0];
  if (!first.includes(".")) return "missing dot in first path element";
  if (!/^[a-z0-9.-]+$/.test(first)) {
    return "the first path element (a domain name) has a character other than a-z, 0-9, '.', '-'";
  }
  if (!majorSuffixOk(path)) return "invalid version suffix";
  return undefined;
}

const WINDOWS_RESERVED = new Set([
  "con",
  "prn",
  "aux",
  "nul",
  ...Array.from({ length: 9 }, (_, i) => `com${i + 1}`),
  ...Array.from({ length: 9 }, (_, i) => `lpt${i + 1}`),
]);

/** module's checkElem, for a module path element or a version (a file name). */
function checkElement(element: string, kind: "module" | "file"): string | undefined {
  if (element === "") return "empty path element";
  if (/^\.+$/.test(element)) return `invalid path element ${JSON.stringify(element)}`;
  if (element.startsWith(".") && kind === "module") return "leading dot in path element";
  if (element.endsWith(".")) return "trailing dot in path element";
  // ASCII only (escaped paths are): modPathOK, or fileNameOK without its Unicode letters.
  const allowed = kind === "module" ? /^[A-Za-z0-9._~-]+$/ : /^[A-Za-z0-9!#$%&()+,.=@[\]^_{}~ -]+$/;
  if (!allowed.test(element)) return `invalid char in ${JSON.stringify(shorten(element))}`;
  const short = element.split(".")[0];
  if (WINDOWS_RESERVED.has(short.toLowerCase())) {
    return `${JSON.stringify(short)} disallowed as path element component on Windows`;
  }
  if (kind === "module" && /~[0-9]+$/.test(short)) {
    return "trailing tilde and digits in path element";
  }
  return undefined;
}

/** module.SplitPathVersion's `ok`: a /vN suffix is v2 or more without dots or a leading zero. */
function majorSuffixOk(path: string): boolean {
  if (path.startsWith("gopkg.in/")) {
    return /\.v(0|[1-9][0-9]*)(-unstable)?$/.test(path);
  }
  const match = /\/v([0-9.]+)$/.exec(path);
  if (!match) return true;
  const digits = match[1];
  return !digits.includes(".") && !digits.startsWith("0") && digits !== "1";
}

function problem(status: 400 | 404, message: string): GoPathProblem {
  return { kind: "problem", status, message };
}

/** Hostile input can be megabytes; messages show the start of it. */
function shorten(text: string): string {
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}
