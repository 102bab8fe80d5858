// Parsing of npm request paths. Clients spell scoped names three ways (`@scope%2fname`,
// `@scope%2Fname`, `@scope/name`) and yarn berry builds tarball paths itself, so every spelling
// maps to one canonical name here, and anything that is not a valid name is rejected before it
// can reach a file path or an upstream URL.

export type NpmRoute =
  | { kind: "packument"; name: string }
  | { kind: "version"; name: string; version: string }
  | { kind: "tarball"; name: string; filename: string };

const NAME_PART = /^[A-Za-z0-9_~-][A-Za-z0-9._~-]*$/;
const SCOPE_PART = /^@[A-Za-z0-9_~-][A-Za-z0-9._~-]*$/;
const TARBALL_FILE = /^[A-Za-z0-9_~-][A-Za-z0-9._~+-]*\.tgz$/;
const VERSION_OR_TAG = /^[A-Za-z0-9_~-][A-Za-z0-9._~+-]*$/;
const MAX_NAME_LENGTH = 214;

export function isValidPackageName(name: string): boolean {
  if (name.length === 0 || name.length > MAX_NAME_LENGTH) return false;
  const parts = name.split("/");
  if (parts.length === 1) return NAME_PART.test(parts[0]);
  return parts.length === 2 && SCOPE_PART.test(parts[0]) && NAME_PART.test(parts[1]);
}

/** Parses the part of the path after `/npm/`; undefined when it is not a package route. */
export function parseNpmPath(rawPath: string): NpmRoute | undefined {
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
  const rest = decoded.slice(scoped ? 2 : 1);
  if (!isValidPackageName(name)) return undefined;
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

/** The path segment the public registry expects for a name (`@scope%2fname` for scoped ones). */
export function upstreamNamePath(name: string): string {
  return name.startsWith("@") ? `@${encodeURIComponent(name.slice(1))}` : encodeURIComponent(name);
}
