// Turns an upstream packument into what the cache stores: the full document and the abbreviated
// ("corgi") document with every tarball URL pointing at this server, plus a small index from
// tarball file name to upstream URL and digest, so a tarball request never has to parse the
// (possibly 40 MB) packument again. `integrity`, `shasum` and `signatures` are never touched.
import { BASE_URL_PLACEHOLDER } from "../../store/rendered_documents.ts";
import { UpstreamDataError } from "../outcomes.ts";

export interface TarballRef {
  url: string;
  integrity?: string;
  shasum?: string;
}

export interface ProcessedPackument {
  full: Uint8Array;
  abbreviated: Uint8Array;
  tarballs: Record<string, TarballRef>;
  versionCount: number;
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

export function processPackument(name: string, body: Uint8Array): ProcessedPackument {
  let doc: Json;
  try {
    doc = JSON.parse(new TextDecoder().decode(body));
  } catch {
    throw new UpstreamDataError(`upstream sent invalid JSON for ${name}`);
  }
  if (!doc || typeof doc !== "object" || Array.isArray(doc)) {
    throw new UpstreamDataError(`upstream sent a non-object packument for ${name}`);
  }
  const versions = isObject(doc.versions) ? doc.versions : {};
  const tarballs: Record<string, TarballRef> = {};
  const abbreviatedVersions: Json = {};

  for (const [version, manifest] of Object.entries(versions)) {
    if (!isObject(manifest)) continue;
    const dist = isObject(manifest.dist) ? manifest.dist : undefined;
    if (dist && typeof dist.tarball === "string") {
      const filename = tarballFileName(dist.tarball);
      if (filename) {
        tarballs[filename] = {
          url: dist.tarball,
          integrity: typeof dist.integrity === "string" ? dist.integrity : undefined,
          shasum: typeof dist.shasum === "string" ? dist.shasum : undefined,
        };
        dist.tarball = `${BASE_URL_PLACEHOLDER}/${name}/-/${filename}`;
      }
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

  const encoder = new TextEncoder();
  return {
    full: encoder.encode(JSON.stringify(doc)),
    abbreviated: encoder.encode(JSON.stringify(abbreviated)),
    tarballs,
    versionCount: Object.keys(versions).length,
  };
}

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

function tarballFileName(url: string): string | undefined {
  try {
    const last = new URL(url).pathname.split("/").pop();
    return last && /^[A-Za-z0-9_~-][A-Za-z0-9._~+-]*\.tgz$/.test(last) ? last : undefined;
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
