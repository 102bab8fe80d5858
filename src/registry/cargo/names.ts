// Sparse-index paths and crate names. Index paths are derived from the lowercased name
// (`1/a`, `2/ab`, `3/a/abc`, `ab/cd/abcd…`), so a path is accepted only when its prefix is the one
// the name implies: nothing else can reach the store or the upstream URL.
//
// Names compare as crates.io compares them: case-insensitive, `-` and `_` alike (`crateKey`).
// crates.io refuses a new crate whose key is an existing crate's, so one key is one crate, but its
// index stores each crate under its own lowercased spelling only (`se/rd/serde_json` is 200,
// `se/rd/serde-json` 404): checking "does crates.io have this name" means asking every spelling.

export type CargoRoute =
  | { kind: "config" }
  | { kind: "index"; name: string; path: string }
  | { kind: "download"; name: string; version: string }
  // The web API cargo's write commands use: publish, yank, unyank, search.
  | { kind: "publish" }
  | { kind: "yank"; name: string; version: string; yanked: boolean }
  | { kind: "search" };

const CRATE_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
// SemVer with optional pre-release and build metadata.
const VERSION = /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/;

export function isValidCrateName(name: string): boolean {
  return CRATE_NAME.test(name);
}

/** The one key a crate name is compared by: lowercase, `_` written `-`. */
export function crateKey(name: string): string {
  return name.toLowerCase().replaceAll("_", "-");
}

/**
 * The lowercased spellings of a name's key that crates.io's index could hold, the name's own first:
 * each `-`/`_` either way. Undefined past `max` spellings (2^separators), so a name made of
 * separators cannot turn one check into thousands of upstream requests.
 */
export function indexSpellings(name: string, max: number): string[] | undefined {
  const own = name.toLowerCase();
  const parts = crateKey(own).split("-");
  if (2 ** (parts.length - 1) > max) return undefined;
  let spellings = [parts[0]];
  for (const part of parts.slice(1)) {
    spellings = spellings.flatMap((prefix) => [`${prefix}-${part}`, `${prefix}_${part}`]);
  }
  return [own, ...spellings.filter((spelling) => spelling !== own)];
}

export function indexPath(name: string): string {
  const lower = name.toLowerCase();
  if (lower.length === 1) return `1/${lower}`;
  if (lower.length === 2) return `2/${lower}`;
  if (lower.length === 3) return `3/${lower[0]}/${lower}`;
  return `${lower.slice(0, 2)}/${lower.slice(2, 4)}/${lower}`;
}

/** Parses the path after `/cargo/`. */
export function parseCargoPath(rawPath: string): CargoRoute | undefined {
  const segments = rawPath.split("/");
  if (segments.some((s) => s === "" || s.includes("%") || s.includes("\0"))) return undefined;
  const [area, ...rest] = segments;
  if (area === "index") {
    if (rest.length === 1 && rest[0] === "config.json") return { kind: "config" };
    const name = rest[rest.length - 1];
    if (!name || !isValidCrateName(name)) return undefined;
    const path = rest.join("/");
    return path === indexPath(name) ? { kind: "index", name: name.toLowerCase(), path } : undefined;
  }
  if (area !== "api" || rest[0] !== "v1" || rest[1] !== "crates") return undefined;
  // api/v1/crates (search) and api/v1/crates/new (publish)
  if (rest.length === 2) return { kind: "search" };
  if (rest.length === 3 && rest[2] === "new") return { kind: "publish" };
  // api/v1/crates/{name}/{version}/{download|yank|unyank}
  if (rest.length !== 5 || !isValidCrateName(rest[2]) || !isValidVersion(rest[3])) return undefined;
  const [name, version, action] = rest.slice(2);
  if (action === "download") return { kind: "download", name, version };
  if (action === "yank" || action === "unyank") {
    return { kind: "yank", name: name.toLowerCase(), version, yanked: action === "yank" };
  }
  return undefined;
}

/** A version that can be part of a URL path and a file name: SemVer, never `/` or `..`. */
export function isValidVersion(version: string): boolean {
  return version.length <= 100 && VERSION.test(version) && !version.includes("..");
}
