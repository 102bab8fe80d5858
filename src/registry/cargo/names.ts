// Sparse-index paths, crate names and the parameters of cargo routes (the routes themselves are
// in handler.ts). Index paths are derived from the lowercased name
// (`1/a`, `2/ab`, `3/a/abc`, `ab/cd/abcd…`), so a path is accepted only when its prefix is the one
// the name implies: nothing else can reach the store or the upstream URL.
//
// Names compare as crates.io compares them: case-insensitive, `-` and `_` alike (`crateKey`).
// crates.io refuses a new crate whose key is an existing crate's, so one key is one crate, but its
// index stores each crate under its own lowercased spelling only (`se/rd/serde_json` is 200,
// `se/rd/serde-json` 404): checking "does crates.io have this name" means asking every spelling.

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

/**
 * The crate an index path names (`se/rd/serde`, `3/l/log`), lowercased; undefined unless the
 * path is exactly the one cargo's layout gives that name.
 */
export function indexFileParam(path: string): string | undefined {
  const name = path.slice(path.lastIndexOf("/") + 1);
  if (!isValidCrateName(name) || path !== indexPath(name)) return undefined;
  return name.toLowerCase();
}

/** A crate name and version from an API path, checked; undefined when either is not valid. */
export function crateVersionParams(
  name: string,
  version: string,
): { name: string; version: string } | undefined {
  return isValidCrateName(name) && isValidVersion(version) ? { name, version } : undefined;
}

/** A version that can be part of a URL path and a file name: SemVer, never `/` or `..`. */
export function isValidVersion(version: string): boolean {
  return version.length <= 100 && VERSION.test(version) && !version.includes("..");
}
