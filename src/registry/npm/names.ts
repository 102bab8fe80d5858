// Parsing of npm request paths. Clients spell scoped names three ways (`@scope%2fname`,
// `@scope%2Fname`, `@scope/name`) and yarn berry builds tarball paths itself, so every spelling
// maps to one canonical name here, and anything that is not a valid name is rejected before it
// can reach a file path or an upstream URL.

export type NpmRoute =
  | { kind: "packument"; name: string }
  | { kind: "version"; name: string; version: string }
  | { kind: "tarball"; name: string; filename: string }
  /** `/<name>/-rev/<rev>`: npm's unpublish (PUT the document back, or DELETE the package). */
  | { kind: "revision"; name: string; rev: string }
  /** `/<name>/-/<file>/-rev/<rev>`: the tarball DELETE that ends `npm unpublish name@version`. */
  | { kind: "tarball-revision"; name: string; filename: string; rev: string };

export interface DistTagRoute {
  name: string;
  tag?: string;
}

const NAME_PART = /^[A-Za-z0-9_~-][A-Za-z0-9._~-]*$/;
const SCOPE_PART = /^@[A-Za-z0-9_~-][A-Za-z0-9._~-]*$/;
const TARBALL_FILE = /^[A-Za-z0-9_~-][A-Za-z0-9._~+-]*\.tgz$/;
const VERSION_OR_TAG = /^[A-Za-z0-9_~-][A-Za-z0-9._~+-]*$/;
const REVISION = /^[0-9]{1,12}-[0-9a-f]{1,32}$/;
const MAX_NAME_LENGTH = 214;

export function isValidPackageName(name: string): boolean {
  if (name.length === 0 || name.length > MAX_NAME_LENGTH) return false;
  const parts = name.split("/");
  if (parts.length === 1) return NAME_PART.test(parts[0]);
  return parts.length === 2 && SCOPE_PART.test(parts[0]) && NAME_PART.test(parts[1]);
}

/** Parses the part of the path after `/npm/`; undefined when it is not a package route. */
export function parseNpmPath(rawPath: string): NpmRoute | undefined {
  const split = splitName(rawPath);
  if (!split) return undefined;
  const { name, rest } = split;
  if (rest.length === 2 && rest[0] === "-rev" && REVISION.test(rest[1])) {
    return { kind: "revision", name, rev: rest[1] };
  }
  if (
    rest.length === 4 && rest[0] === "-" && TARBALL_FILE.test(rest[1]) && rest[2] === "-rev" &&
    REVISION.test(rest[3])
  ) {
    return { kind: "tarball-revision", name, filename: rest[1], rev: rest[3] };
  }
  if (rest.length === 0 || (rest.length === 1 && rest[0] === "")) {
    return { kind: "packument", name };
  }
  if (rest.length === 2 && rest[0] === "-" && TARBALL_FILE.test(rest[1])) {
    return { kind: "tarball", name, filename: rest[1] };
  }
  if (rest.length === 1 && VERSION_OR_TAG.test(rest[0])) {
    return { kind: "version", name, version: rest[0] };
  }
  return undefined;
}

/** Parses what follows `/npm/-/package/`: `<name>/dist-tags[/<tag>]`. */
export function parseDistTagPath(rawPath: string): DistTagRoute | undefined {
  const split = splitName(rawPath);
  if (!split || split.rest[0] !== "dist-tags") return undefined;
  if (split.rest.length === 1) return { name: split.name };
  if (split.rest.length === 2 && split.rest[1] !== "") {
    return { name: split.name, tag: split.rest[1] };
  }
  return undefined;
}

/** A valid package name (in any of its spellings) and the decoded segments after it. */
function splitName(rawPath: string): { name: string; rest: string[] } | undefined {
  const segments = rawPath.replace(/%2f/gi, "/").split("/");
  let decoded: string[];
  try {
    decoded = segments.map((segment) => decodeURIComponent(segment));
  } catch {
    return undefined;
  }
  if (decoded.some((segment) => segment.includes("/") || segment.includes("\0"))) return undefined;
  const scoped = decoded[0]?.startsWith("@");
  const name = scoped ? `${decoded[0]}/${decoded[1] ?? ""}` : decoded[0];
  if (!isValidPackageName(name)) return undefined;
  return { name, rest: decoded.slice(scoped ? 2 : 1) };
}

/** The path segment the public registry expects for a name (`@scope%2fname` for scoped ones). */
export function upstreamNamePath(name: string): string {
  return name.startsWith("@") ? `@${encodeURIComponent(name.slice(1))}` : encodeURIComponent(name);
}
