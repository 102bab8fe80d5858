// What the cache keeps of an upstream packument, made in two steps so that a cold install does
// not wait for work it does not need:
// 1. On the request path, the tarball URLs are rewritten in the upstream text itself (no parse,
//    no re-serialization of a document that can be 20 MB): the result is the stored full document.
// 2. Later, when an abbreviated document, a tarball or one version is first asked for, the stored
//    document is parsed once to derive the abbreviated ("corgi") document, a small index from
//    tarball file name to its digests, and the version manifests one after another with an index
//    of where each is: a tarball or `/<name>/<version>` request never parses the packument again.
// `integrity`, `shasum` and `signatures` are never touched.
//
// Every tarball URL served points at this server, whatever the upstream document says: a client
// must never be sent elsewhere by a document (the cache would be bypassed, and a hostile upstream
// would choose where VMs download code from). A URL that does not end in a `<file>.tgz` name
// cannot be mapped to the registry's standard tarball path; it is neutralized rather than
// dropped: it becomes `<this server>/-/refused-tarball-url/<name>`, which answers 404, so the
// version stays in the document (dist-tags and ranges still resolve as upstream says) and
// installing it fails here, clearly, instead of fetching from the document's host. Dropping the
// version would need a parse and re-serialization of documents of up to 42 MB on the request
// path, and would silently change what `latest` means.
import { BASE_URL_PLACEHOLDER } from "../../store/rendered_documents.ts";
import { UpstreamDataError } from "../outcomes.ts";

/** What the upstream published for one tarball; verification needs one of the two. */
export interface TarballDigests {
  integrity?: string;
  shasum?: string;
}

export interface DerivedPackument {
  abbreviated: Uint8Array;
  tarballs: Record<string, TarballDigests>;
  /**
   * Every version's manifest as JSON (tarball URLs still templates), one after another, and where
   * each is; only when asked for: installs never need them, and they are nearly the size of the
   * full document again.
   */
  versions?: { manifests: Uint8Array; index: VersionIndex };
}

/** What `/<name>/<version|tag>` needs: the tags, and where each version is in `manifests`. */
export interface VersionIndex {
  distTags: Record<string, string>;
  /** version → [byte offset, byte length] in `manifests`. */
  versions: Record<string, [number, number]>;
}

const TARBALL_FILE = /^[A-Za-z0-9_~-][A-Za-z0-9._~+-]*\.tgz$/;
// A `"tarball": "<url>"` member. Quotes inside JSON strings are escaped, so this matches keys only.
const TARBALL_MEMBER = /"tarball"(\s*):(\s*)"((?:[^"\\]|\\.)*)"/g;
// A letter written as a \u escape: the one way a key can read "tarball" to JSON.parse (and so to
// clients) without matching TARBALL_MEMBER. Serializers never write letters so (Go escapes only
// <, > and &), so a document with one takes the slow path: parsed and rewritten as JSON.
const ESCAPED_LETTER = /\\u00(?:4[1-9a-f]|5[0-9a]|6[1-9a-f]|7[0-9a])/i;

/**
 * The full document with every tarball URL pointing at `<placeholder>/<name>/-/<file>`; the
 * placeholder becomes this server's base URL when the document is served.
 */
export function rewriteTarballUrls(name: string, upstreamText: string): string {
  const trimmed = upstreamText.trim();
  if (!trimmed.startsWith("{") || !trimmed.endsWith("}")) {
    throw new UpstreamDataError(`upstream sent something other than a JSON object for ${name}`);
  }
  if (ESCAPED_LETTER.test(upstreamText)) return rewriteParsed(name, upstreamText);
  return upstreamText.replace(TARBALL_MEMBER, (_member, before, after, escapedUrl) => {
    return `"tarball"${before}:${after}"${servedTarballUrl(name, decodeJsonString(escapedUrl))}"`;
  });
}

/** Where a client is sent for a tarball the upstream document placed at `url` (see above). */
function servedTarballUrl(name: string, url: string | undefined): string {
  const filename = url === undefined ? undefined : tarballFileName(url);
  return filename
    ? `${BASE_URL_PLACEHOLDER}/${name}/-/${filename}`
    : `${BASE_URL_PLACEHOLDER}/-/refused-tarball-url/${name}`;
}

/** The slow path: every version's `dist.tarball` rewritten in the parsed document. */
function rewriteParsed(name: string, upstreamText: string): string {
  let doc: unknown;
  try {
    doc = JSON.parse(upstreamText);
  } catch {
    throw new UpstreamDataError(`upstream sent invalid JSON for ${name}`);
  }
  if (!isObject(doc)) {
    throw new UpstreamDataError(`upstream sent a non-object packument for ${name}`);
  }
  for (const manifest of Object.values(isObject(doc.versions) ? doc.versions : {})) {
    const dist = isObject(manifest) && isObject(manifest.dist) ? manifest.dist : undefined;
    if (dist && "tarball" in dist) {
      dist.tarball = servedTarballUrl(
        name,
        typeof dist.tarball === "string" ? dist.tarball : undefined,
      );
    }
  }
  return JSON.stringify(doc);
}

/**
 * Parses the stored full document once; throws UpstreamDataError when it is not JSON. With
 * `versions`, also the per-version manifests and their index (for `/<name>/<version>`).
 */
export function derivePackument(
  name: string,
  fullTemplate: string,
  { versions: withVersions = false } = {},
): DerivedPackument {
  let doc: Json;
  try {
    doc = JSON.parse(fullTemplate);
  } catch {
    throw new UpstreamDataError(`upstream sent invalid JSON for ${name}`);
  }
  if (!isObject(doc)) {
    throw new UpstreamDataError(`upstream sent a non-object packument for ${name}`);
  }
  const versions = isObject(doc.versions) ? doc.versions : {};
  const tarballs: Record<string, TarballDigests> = {};
  const abbreviatedVersions: Json = {};
  const encoder = new TextEncoder();
  const manifests: Uint8Array[] = [];
  const manifestAt: [string, [number, number]][] = [];
  let offset = 0;
  for (const [version, manifest] of Object.entries(versions)) {
    if (!isObject(manifest)) continue;
    if (withVersions) {
      const bytes = encoder.encode(JSON.stringify(manifest));
      manifests.push(bytes);
      manifestAt.push([version, [offset, bytes.byteLength]]);
      offset += bytes.byteLength;
    }
    const dist = isObject(manifest.dist) ? manifest.dist : undefined;
    // Only tarballs rewritten to this server's standard path are served (a neutralized URL is not).
    const local = `${BASE_URL_PLACEHOLDER}/${name}/-/`;
    const filename = typeof dist?.tarball === "string" && dist.tarball.startsWith(local)
      ? dist.tarball.slice(local.length)
      : undefined;
    if (dist && filename && TARBALL_FILE.test(filename)) {
      tarballs[filename] = {
        integrity: typeof dist.integrity === "string" ? dist.integrity : undefined,
        shasum: typeof dist.shasum === "string" ? dist.shasum : undefined,
      };
    }
    abbreviatedVersions[version] = abbreviateVersion(manifest);
  }
  const time = isObject(doc.time) ? doc.time : undefined;
  const abbreviated: Json = {
    name: doc.name ?? name,
    "dist-tags": doc["dist-tags"] ?? {},
    versions: abbreviatedVersions,
  };
  if (typeof time?.modified === "string") abbreviated.modified = time.modified;
  const distTags = isObject(doc["dist-tags"]) ? doc["dist-tags"] : {};
  return {
    abbreviated: encoder.encode(JSON.stringify(abbreviated)),
    tarballs,
    versions: withVersions
      ? {
        manifests: concat(manifests, offset),
        // Tags that do not name a version by a string are not tags.
        index: {
          distTags: Object.fromEntries(
            Object.entries(distTags).filter((tag): tag is [string, string] =>
              typeof tag[1] === "string"
            ),
          ),
          versions: Object.fromEntries(manifestAt),
        },
      }
      : undefined,
  };
}

function concat(parts: Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}

type Json = Record<string, unknown>;

/** Fields of a version that the abbreviated document keeps (as the public registry does). */
const ABBREVIATED_VERSION_FIELDS = [
  "name",
  "version",
  "deprecated",
  "dependencies",
  "optionalDependencies",
  "devDependencies",
  "bundleDependencies",
  "bundledDependencies",
  "peerDependencies",
  "peerDependenciesMeta",
  "acceptDependencies",
  "bin",
  "directories",
  "dist",
  "engines",
  "cpu",
  "os",
  "libc",
  "funding",
  "license",
  "_hasShrinkwrap",
  "hasInstallScript",
] as const;

const INSTALL_SCRIPTS = ["preinstall", "install", "postinstall"];

function abbreviateVersion(manifest: Json): Json {
  const out: Json = {};
  for (const field of ABBREVIATED_VERSION_FIELDS) {
    if (manifest[field] !== undefined) out[field] = manifest[field];
  }
  const scripts = isObject(manifest.scripts) ? manifest.scripts : undefined;
  if (out.hasInstallScript === undefined && scripts) {
    if (INSTALL_SCRIPTS.some((script) => typeof scripts[script] === "string")) {
      out.hasInstallScript = true;
    }
  }
  return out;
}

/** A string as it appears (JSON-escaped) in the upstream text; undefined when it is not valid. */
function decodeJsonString(escaped: string): string | undefined {
  try {
    return JSON.parse(`"${escaped}"`);
  } catch {
    return undefined;
  }
}

/** The file name a tarball URL ends in, when it ends in one (`<file>.tgz`, query ignored). */
function tarballFileName(url: string): string | undefined {
  const last = url.split(/[?#]/)[0].split("/").pop();
  return last && TARBALL_FILE.test(last) ? last : undefined;
}

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
