// npm names and the parameters of npm routes (the routes themselves are in handler.ts). Clients
// spell scoped names three ways (`@scope%2fname`, `@scope%2Fname`, `@scope/name`) and yarn berry
// builds tarball paths itself, so every spelling maps to one canonical name here, and anything
// that is not a valid name is rejected before it can reach a file path or an upstream URL.
import { decodeSegment } from "../route_table.ts";

/** `/-/package/<name>/dist-tags[/<tag>]`: the package, and the tag when one is named. */
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

/**
 * The package name a path parameter spells (`lodash`, `@types%2fnode`, `@types%2Fnode`,
 * `@types/node`; a trailing slash allowed), or undefined when it is not a valid name or is `-`.
 */
export function packageParam(raw: string): string | undefined {
  const split = splitName(raw);
  // `/npm/-/…` is the registry's own namespace (ping, audit, whoami, dist-tags), never a package.
  if (!split || split.name === "-") return undefined;
  const { name, rest } = split;
  return rest.length === 0 || (rest.length === 1 && rest[0] === "") ? name : undefined;
}

/** A tarball file name from the path (`lodash-4.17.21.tgz`). */
export function tarballParam(raw: string): string | undefined {
  const file = decodeSegment(raw);
  return file !== undefined && TARBALL_FILE.test(file) ? file : undefined;
}

/** A version or dist-tag from the path (`18.2.0`, `latest`). */
export function versionOrTagParam(raw: string): string | undefined {
  const value = decodeSegment(raw);
  return value !== undefined && VERSION_OR_TAG.test(value) ? value : undefined;
}

/** A document revision from the path (`3-abc123`), as npm sends back the `_rev` it read. */
export function revisionParam(raw: string): string | undefined {
  const value = decodeSegment(raw);
  return value !== undefined && REVISION.test(value) ? value : undefined;
}

/** A dist-tag name from the path, checked further where it is set (publish.ts). */
export function distTagParam(raw: string): string | undefined {
  const value = decodeSegment(raw);
  return value ? value : undefined;
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
