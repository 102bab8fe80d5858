// npm's write protocol, as npm 9-11 speak it, applied to a private package:
// - `npm publish`: PUT /<name> with one new version and its tarball in `_attachments` (base64);
// - `npm deprecate` and the first half of `npm unpublish <name>@<v>`: PUT the whole document
//   back (read with `?write=true`), with `deprecated` set or the version left out;
// - `npm unpublish <name>`: DELETE /<name>/-rev/<rev>;
// - `npm dist-tag add|rm`: PUT|DELETE /-/package/<name>/dist-tags/<tag>.
// Everything is validated before anything is stored: a tarball must match the integrity and
// shasum npm computed, and names and versions must be ones that can never form a path.
import { createHash } from "node:crypto";
import type { PackageState, PrivateFile, PrivateVersion } from "../../store/private_packages.ts";
import { BASE_URL_PLACEHOLDER } from "../../store/rendered_documents.ts";
import { ClientError } from "../request_body.ts";

type Json = Record<string, unknown>;

/** SemVer 2.0, as npm requires for published versions. */
const SEMVER =
  /^\d{1,9}\.\d{1,9}\.\d{1,9}(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$/;
const DIST_TAG = /^[A-Za-z][A-Za-z0-9._-]{0,63}$/;

export interface NewVersion {
  version: string;
  /** The version manifest as npm sent it, minus the tarball URL (rebuilt when served). */
  manifest: Json;
  filename: string;
  tarball: Uint8Array;
}

export interface PublishRequest {
  versions: NewVersion[];
  distTags: Record<string, string>;
}

/** The tarball file name npm uses: the unscoped name, a dash, the version. */
export function tarballFileName(name: string, version: string): string {
  return `${name.slice(name.lastIndexOf("/") + 1)}-${version}.tgz`;
}

export function isSemver(version: string): boolean {
  return version.length <= 256 && SEMVER.test(version);
}

/** Validates a publish document (the body of `npm publish`) for `name`. */
export function parsePublish(name: string, doc: unknown): PublishRequest {
  if (!isObject(doc)) throw new ClientError(400, "the publish body must be a JSON object");
  if (doc.name !== undefined && doc.name !== name) {
    throw new ClientError(400, `the document is for ${String(doc.name)}, not ${name}`);
  }
  const versions = isObject(doc.versions) ? doc.versions : {};
  const attachments = isObject(doc._attachments) ? doc._attachments : {};
  const out: NewVersion[] = [];
  for (const [version, manifest] of Object.entries(versions)) {
    if (!isSemver(version)) throw new ClientError(400, `invalid version: ${version}`);
    if (!isObject(manifest) || manifest.version !== version || manifest.name !== name) {
      throw new ClientError(400, `the manifest of ${version} must name ${name}@${version}`);
    }
    const filename = tarballFileName(name, version);
    const attachment = attachments[`${name}-${version}.tgz`] ?? attachments[filename];
    if (!isObject(attachment) || typeof attachment.data !== "string") {
      throw new ClientError(400, `the tarball of ${name}@${version} is missing from _attachments`);
    }
    const tarball = decodeBase64(attachment.data, `the tarball of ${name}@${version}`);
    verifyTarball(name, version, manifest, tarball, attachment.length);
    const { tarball: _url, ...dist } = manifest.dist as Json;
    out.push({
      version,
      manifest: { ...manifest, dist, _id: `${name}@${version}` },
      filename,
      tarball,
    });
  }
  if (out.length === 0) {
    throw new ClientError(400, "nothing to publish: no version with a tarball in the document");
  }
  if (Object.keys(attachments).length !== out.length) {
    throw new ClientError(400, "_attachments must hold exactly one tarball per new version");
  }
  return { versions: out, distTags: parseDistTags(doc["dist-tags"], out.map((v) => v.version)) };
}

/** Adds the validated versions to the package; refuses to publish over an existing version. */
export function applyPublish(
  state: PackageState,
  request: PublishRequest,
  stored: { version: NewVersion; file: PrivateFile; metaDigest: string }[],
): PackageState {
  for (const { version } of request.versions) {
    if (state.versions.has(version)) {
      throw new ClientError(
        409,
        `${state.pkg.name}@${version} already exists; a published version cannot be ` +
          "published over (bump the version)",
      );
    }
  }
  const now = Date.now();
  for (const { version, file, metaDigest } of stored) {
    const manifest = version.manifest;
    state.versions.set(version.version, {
      version: version.version,
      publishedAt: now,
      files: [file],
      metaDigest,
      ...(typeof manifest.deprecated === "string" && manifest.deprecated
        ? { deprecated: manifest.deprecated }
        : {}),
    });
  }
  Object.assign(state.pkg.distTags, request.distTags);
  const last = stored.at(-1);
  if (!state.pkg.distTags.latest && last) state.pkg.distTags.latest = last.version.version;
  return state;
}

/**
 * A whole document PUT back by npm (deprecate, unpublish of one version): versions it leaves out
 * are removed, `deprecated` follows the document, dist-tags follow it where they name a version
 * that exists. Nothing else of a published version can change.
 */
export function applyDocumentUpdate(state: PackageState, doc: unknown): PackageState {
  if (!isObject(doc) || !isObject(doc.versions)) {
    throw new ClientError(400, "the document must be a JSON object with versions");
  }
  const sent = doc.versions;
  for (const version of Object.keys(sent)) {
    if (!state.versions.has(version)) {
      throw new ClientError(400, `${state.pkg.name}@${version} is new: publish it with a tarball`);
    }
  }
  for (const [version, record] of [...state.versions]) {
    const manifest = sent[version];
    if (!isObject(manifest)) {
      state.versions.delete(version);
      continue;
    }
    const deprecated = typeof manifest.deprecated === "string" ? manifest.deprecated : "";
    const next: PrivateVersion = { ...record };
    if (deprecated) next.deprecated = deprecated;
    else delete next.deprecated;
    state.versions.set(version, next);
  }
  if (doc["dist-tags"] !== undefined) {
    state.pkg.distTags = parseDistTags(doc["dist-tags"], [...state.versions.keys()]);
  }
  fixLatest(state);
  return state;
}

export function parseDistTag(tag: string): string {
  if (!DIST_TAG.test(tag) || isSemver(tag)) {
    throw new ClientError(400, `invalid dist-tag: ${tag} (a tag cannot look like a version)`);
  }
  return tag;
}

/** Keeps `latest` pointing at a version that exists (the newest published one). */
export function fixLatest(state: PackageState): void {
  for (const [tag, version] of Object.entries(state.pkg.distTags)) {
    if (!state.versions.has(version)) delete state.pkg.distTags[tag];
  }
  if (!state.pkg.distTags.latest && state.versions.size > 0) {
    const newest = [...state.versions.values()].sort((a, b) => a.publishedAt - b.publishedAt)
      .pop()!;
    state.pkg.distTags.latest = newest.version;
  }
}

/**
 * The full packument of a private package as a template (tarball URLs carry the base-URL
 * placeholder); `manifests` are the stored version manifests in publish order.
 */
export function renderPrivatePackument(
  state: PackageState,
  manifests: Map<string, Json>,
): string {
  const { pkg } = state;
  const versions: Json = {};
  const time: Json = {
    created: new Date(pkg.createdAt).toISOString(),
    modified: new Date(pkg.modifiedAt).toISOString(),
  };
  for (const version of pkg.versions) {
    const record = state.versions.get(version);
    const manifest = manifests.get(version);
    if (!record || !manifest) continue;
    const dist = {
      ...(manifest.dist as Json),
      tarball: `${BASE_URL_PLACEHOLDER}/${pkg.name}/-/${record.files[0].filename}`,
    };
    const out: Json = { ...manifest, dist };
    if (record.deprecated) out.deprecated = record.deprecated;
    else delete out.deprecated;
    versions[version] = out;
    time[version] = new Date(record.publishedAt).toISOString();
  }
  const latest = manifests.get(pkg.distTags.latest ?? "");
  return JSON.stringify({
    _id: pkg.name,
    _rev: revisionOf(state),
    name: pkg.name,
    description: latest?.description,
    "dist-tags": pkg.distTags,
    versions,
    time,
    readme: typeof latest?.readme === "string" ? latest.readme : undefined,
    license: latest?.license,
  });
}

/** CouchDB-style `_rev`: the change counter and a short hash (npm sends it back on writes). */
export function revisionOf(state: PackageState): string {
  const hash = createHash("sha1").update(`${state.pkg.name}@${state.pkg.rev}`).digest("hex");
  return `${state.pkg.rev}-${hash.slice(0, 16)}`;
}

function parseDistTags(value: unknown, versions: string[]): Record<string, string> {
  if (value === undefined) return {};
  if (!isObject(value)) throw new ClientError(400, "dist-tags must be an object");
  const tags: Record<string, string> = {};
  for (const [tag, version] of Object.entries(value)) {
    parseDistTag(tag);
    if (typeof version !== "string") {
      throw new ClientError(400, `dist-tag ${tag} must name a version`);
    }
    if (versions.includes(version)) tags[tag] = version;
  }
  return tags;
}

function verifyTarball(
  name: string,
  version: string,
  manifest: Json,
  tarball: Uint8Array,
  declaredLength: unknown,
): void {
  const what = `the tarball of ${name}@${version}`;
  if (tarball.byteLength === 0 || tarball[0] !== 0x1f || tarball[1] !== 0x8b) {
    throw new ClientError(400, `${what} is not a gzip file`);
  }
  if (declaredLength !== undefined && declaredLength !== tarball.byteLength) {
    throw new ClientError(400, `${what} is ${tarball.byteLength} bytes, not ${declaredLength}`);
  }
  const dist = isObject(manifest.dist) ? manifest.dist : {};
  let checked = false;
  if (typeof dist.integrity === "string") {
    for (const token of dist.integrity.trim().split(/\s+/)) {
      const [algorithm, expected] = [
        token.slice(0, token.indexOf("-")),
        token.slice(token.indexOf("-") + 1),
      ];
      if (!["sha512", "sha384", "sha256", "sha1"].includes(algorithm)) continue;
      const actual = createHash(algorithm).update(tarball).digest("base64");
      if (actual !== expected) throw new ClientError(400, `${what} does not match its integrity`);
      checked = true;
    }
  }
  if (typeof dist.shasum === "string") {
    if (createHash("sha1").update(tarball).digest("hex") !== dist.shasum.toLowerCase()) {
      throw new ClientError(400, `${what} does not match its shasum`);
    }
    checked = true;
  }
  if (!checked) throw new ClientError(400, `${what} comes with no integrity or shasum`);
}

function decodeBase64(data: string, what: string): Uint8Array {
  try {
    return Uint8Array.fromBase64(data);
  } catch {
    throw new ClientError(400, `${what} is not valid base64`);
  }
}

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
