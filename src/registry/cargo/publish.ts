// cargo's publish request (`PUT /api/v1/crates/new`) checked strictly, and the sparse-index line
// built from it. The body is a frame: u32 LE JSON length, the JSON metadata, u32 LE crate length,
// the .crate. Every length must match the body exactly and every field that reaches the index
// must have the shape cargo expects, because an index line is served to every client as it is
// and a bad one breaks resolution for everyone who depends on the crate.
import { ClientError } from "../request_body.ts";
import { isValidCrateName } from "./names.ts";

/** crates.io refuses crates over 10 MB; private crates get some room above that. */
export const MAX_CRATE_UPLOAD_BYTES = 32 * 1024 * 1024;

/** The crates.io index, as cargo names it in `registry` when publishing elsewhere. */
export const CRATES_IO_INDEX = "https://github.com/rust-lang/crates.io-index";

/** SemVer 2.0 as cargo's `semver` crate parses it: no leading zeros, no empty identifiers. */
const SEMVER = new RegExp(
  "^(0|[1-9]\\d{0,15})\\.(0|[1-9]\\d{0,15})\\.(0|[1-9]\\d{0,15})" +
    "(-(0|[1-9]\\d*|\\d*[A-Za-z-][0-9A-Za-z-]*)(\\.(0|[1-9]\\d*|\\d*[A-Za-z-][0-9A-Za-z-]*))*)?" +
    "(\\+[0-9A-Za-z-]+(\\.[0-9A-Za-z-]+)*)?$",
);
/** Comparators such as `^1.2`, `>=1, <2`, `=0.4.22`, `*`, `1.0.0-beta.1`. */
const VERSION_REQ = /^[0-9A-Za-z.*^~<>=,+\- ]{1,256}$/;
const FEATURE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_+.-]{0,99}$/;
/** `feature`, `dep:name`, `name/feature`, `name?/feature`. */
const FEATURE_VALUE =
  /^(dep:[A-Za-z][A-Za-z0-9_-]{0,63}|[A-Za-z0-9_][A-Za-z0-9_+.-]{0,99}(\??\/[A-Za-z0-9_][A-Za-z0-9_+.-]{0,99})?)$/;
const LINKS = /^[A-Za-z0-9_.+-]{1,64}$/;
const RUST_VERSION = /^\d{1,4}(\.\d{1,4}){0,2}$/;
/** Target triples and `cfg(...)` expressions: printable ASCII, nothing that could break a line. */
const TARGET = /^[\x20-\x7e]{1,256}$/;
const MAX_DEPENDENCIES = 1000;
const MAX_FEATURES = 1000;

export type DependencyKind = "normal" | "dev" | "build";

/** One dependency as cargo sends it in the publish JSON. */
export interface NewCrateDependency {
  name: string;
  version_req: string;
  features: string[];
  optional: boolean;
  default_features: boolean;
  target: string | null;
  kind: DependencyKind;
  registry: string | null;
  /** The name the dependent uses (`alias = { package = "name" }`). */
  explicit_name_in_toml: string | null;
}

/** The parts of the publish JSON this registry uses; the rest is accepted and ignored. */
export interface NewCrate {
  name: string;
  vers: string;
  deps: NewCrateDependency[];
  features: Record<string, string[]>;
  links: string | null;
  rust_version: string | null;
  description: string | null;
}

export interface CrateUpload {
  meta: NewCrate;
  crate: Uint8Array;
}

/** One dependency of an index line (cargo's `RegistryDependency`). */
export interface IndexDependency {
  name: string;
  req: string;
  features: string[];
  optional: boolean;
  default_features: boolean;
  target: string | null;
  kind: DependencyKind;
  registry?: string;
  package?: string;
}

/** One line of a sparse-index file (cargo's `IndexPackage`). */
export interface IndexLine {
  name: string;
  vers: string;
  deps: IndexDependency[];
  cksum: string;
  features: Record<string, string[]>;
  yanked: boolean;
  links: string | null;
  features2?: Record<string, string[]>;
  v?: 2;
  rust_version?: string;
}

export function isSemver(version: string): boolean {
  return version.length <= 100 && SEMVER.test(version);
}

/** Splits and checks the whole request body. */
export function parseUpload(body: Uint8Array): CrateUpload {
  const { json, crate } = parseFrame(body);
  const meta = parseNewCrate(json);
  if (crate.byteLength === 0) throw new ClientError(400, "the .crate file is empty");
  if (crate[0] !== 0x1f || crate[1] !== 0x8b) {
    throw new ClientError(400, "the .crate file is not gzip-compressed");
  }
  return { meta, crate };
}

/** The two parts of the frame; the lengths must account for every byte of the body. */
export function parseFrame(body: Uint8Array): { json: Uint8Array; crate: Uint8Array } {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const cutOff = (what: string) =>
    new ClientError(400, `the publish request is cut off (${body.byteLength} bytes): ${what}`);
  if (body.byteLength < 4) throw cutOff("no JSON length");
  const jsonLength = view.getUint32(0, true);
  const crateLengthAt = 4 + jsonLength;
  if (crateLengthAt + 4 > body.byteLength) {
    throw cutOff(`the JSON length says ${jsonLength} bytes, and a crate length must follow`);
  }
  const crateLength = view.getUint32(crateLengthAt, true);
  const end = crateLengthAt + 4 + crateLength;
  if (end > body.byteLength) {
    throw cutOff(`the crate length says ${crateLength} bytes, ${body.byteLength - end} missing`);
  }
  if (end < body.byteLength) {
    throw new ClientError(
      400,
      `the publish request has ${body.byteLength - end} bytes after the .crate file`,
    );
  }
  return {
    json: body.subarray(4, crateLengthAt),
    crate: body.subarray(crateLengthAt + 4, end),
  };
}

/** Checks the publish JSON; throws a 400 naming the first field that is wrong. */
export function parseNewCrate(bytes: Uint8Array): NewCrate {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw new ClientError(400, "the publish metadata is not valid JSON");
  }
  if (!isObject(doc)) throw new ClientError(400, "the publish metadata must be a JSON object");
  const name = doc.name;
  if (typeof name !== "string" || !isValidCrateName(name)) {
    throw new ClientError(400, `invalid crate name: ${JSON.stringify(name)}`);
  }
  const vers = doc.vers;
  if (typeof vers !== "string" || !isSemver(vers)) {
    throw new ClientError(400, `invalid version of ${name}: ${JSON.stringify(vers)} is not SemVer`);
  }
  const deps = doc.deps ?? [];
  if (!Array.isArray(deps) || deps.length > MAX_DEPENDENCIES) {
    throw new ClientError(400, `deps must be a list of at most ${MAX_DEPENDENCIES} dependencies`);
  }
  return {
    name,
    vers,
    deps: deps.map((dep, i) => parseDependency(dep, `deps[${i}]`)),
    features: parseFeatures(doc.features),
    links: optionalMatching(doc.links, LINKS, "links"),
    rust_version: optionalMatching(doc.rust_version, RUST_VERSION, "rust_version"),
    description: typeof doc.description === "string" ? doc.description : null,
  };
}

function parseDependency(dep: unknown, where: string): NewCrateDependency {
  if (!isObject(dep)) throw new ClientError(400, `${where} must be an object`);
  const bad = (field: string, value: unknown) =>
    new ClientError(400, `${where}.${field} is invalid: ${JSON.stringify(value)}`);
  if (typeof dep.name !== "string" || !isValidCrateName(dep.name)) throw bad("name", dep.name);
  if (typeof dep.version_req !== "string" || !VERSION_REQ.test(dep.version_req)) {
    throw bad("version_req", dep.version_req);
  }
  const features = dep.features ?? [];
  if (
    !Array.isArray(features) ||
    !features.every((f) => typeof f === "string" && FEATURE_VALUE.test(f))
  ) {
    throw bad("features", features);
  }
  for (const flag of ["optional", "default_features"] as const) {
    if (dep[flag] !== undefined && typeof dep[flag] !== "boolean") throw bad(flag, dep[flag]);
  }
  const kind = dep.kind ?? "normal";
  if (kind !== "normal" && kind !== "dev" && kind !== "build") throw bad("kind", kind);
  const registry = dep.registry ?? null;
  if (registry !== null && (typeof registry !== "string" || !isRegistryUrl(registry))) {
    throw bad("registry", registry);
  }
  const alias = dep.explicit_name_in_toml ?? null;
  if (alias !== null && (typeof alias !== "string" || !isValidCrateName(alias))) {
    throw bad("explicit_name_in_toml", alias);
  }
  return {
    name: dep.name,
    version_req: dep.version_req,
    features: features as string[],
    optional: dep.optional === true,
    default_features: dep.default_features !== false,
    target: optionalMatching(dep.target, TARGET, `${where}.target`),
    kind,
    registry,
    explicit_name_in_toml: alias,
  };
}

function parseFeatures(features: unknown): Record<string, string[]> {
  if (features === undefined || features === null) return {};
  if (!isObject(features) || Object.keys(features).length > MAX_FEATURES) {
    throw new ClientError(400, `features must be an object of at most ${MAX_FEATURES} features`);
  }
  const out: Record<string, string[]> = {};
  for (const [feature, values] of Object.entries(features)) {
    if (!FEATURE_NAME.test(feature)) {
      throw new ClientError(400, `invalid feature name: ${JSON.stringify(feature)}`);
    }
    if (
      !Array.isArray(values) || !values.every((v) => typeof v === "string" && FEATURE_VALUE.test(v))
    ) {
      throw new ClientError(400, `feature ${feature} is invalid: ${JSON.stringify(values)}`);
    }
    out[feature] = values;
  }
  return out;
}

/**
 * The index line cargo reads for this version. `isOurIndex` tells which dependency registries
 * are this registry: those deps get no `registry`, which in the index means "the registry this
 * line was read from", so they resolve whatever URL a client reaches us by (127.0.0.1 on the
 * host, host.docker.internal in a VM), and also where this registry replaces crates.io.
 */
export function indexLine(
  meta: NewCrate,
  cksum: string,
  isOurIndex: (url: string) => boolean,
): IndexLine {
  const deps = meta.deps.map((dep): IndexDependency => ({
    name: dep.explicit_name_in_toml ?? dep.name,
    req: dep.version_req,
    features: dep.features,
    optional: dep.optional,
    default_features: dep.default_features,
    target: dep.target,
    kind: dep.kind,
    ...(dep.registry !== null && !isOurIndex(dep.registry) ? { registry: dep.registry } : {}),
    ...(dep.explicit_name_in_toml !== null ? { package: dep.name } : {}),
  }));
  // As crates.io does: features using `dep:` or `?/` (Rust 1.60) go to `features2` with `v: 2`,
  // so cargo older than 1.60 skips those versions instead of misreading them.
  const features: Record<string, string[]> = {};
  const features2: Record<string, string[]> = {};
  for (const [feature, values] of Object.entries(meta.features)) {
    const newSyntax = values.some((v) => v.startsWith("dep:") || v.includes("?/"));
    (newSyntax ? features2 : features)[feature] = values;
  }
  return {
    name: meta.name,
    vers: meta.vers,
    deps,
    cksum,
    features,
    yanked: false,
    links: meta.links,
    ...(Object.keys(features2).length > 0 ? { features2, v: 2 as const } : {}),
    ...(meta.rust_version !== null ? { rust_version: meta.rust_version } : {}),
  };
}

/** SemVer precedence (build metadata ignored); for `max_version` in search results. */
export function compareVersions(a: string, b: string): number {
  const [coreA, preA] = splitVersion(a);
  const [coreB, preB] = splitVersion(b);
  for (let i = 0; i < 3; i++) {
    if (coreA[i] !== coreB[i]) return coreA[i] < coreB[i] ? -1 : 1;
  }
  if (preA.length === 0 || preB.length === 0) return preB.length - preA.length;
  for (let i = 0; i < Math.min(preA.length, preB.length); i++) {
    const [x, y] = [preA[i], preB[i]];
    if (x === y) continue;
    const [xNum, yNum] = [/^\d+$/.test(x), /^\d+$/.test(y)];
    if (xNum && yNum) return BigInt(x) < BigInt(y) ? -1 : 1;
    if (xNum !== yNum) return xNum ? -1 : 1;
    return x < y ? -1 : 1;
  }
  return preA.length - preB.length;
}

/** The version without build metadata: `1.0.0+a` and `1.0.0+b` are the same version to cargo. */
export function withoutBuildMetadata(version: string): string {
  const plus = version.indexOf("+");
  return plus < 0 ? version : version.slice(0, plus);
}

function splitVersion(version: string): [bigint[], string[]] {
  const plain = withoutBuildMetadata(version);
  const dash = plain.indexOf("-");
  const core = (dash < 0 ? plain : plain.slice(0, dash)).split(".").map((n) => BigInt(n));
  return [core, dash < 0 ? [] : plain.slice(dash + 1).split(".")];
}

function isRegistryUrl(value: string): boolean {
  if (value.length > 512) return false;
  try {
    const url = new URL(value.replace(/^sparse\+/, ""));
    // ssh: git-index registries are spelled that way; other schemes are no registry cargo uses.
    return ["https:", "http:", "ssh:"].includes(url.protocol);
  } catch {
    return false;
  }
}

function optionalMatching(value: unknown, pattern: RegExp, field: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== "string" || !pattern.test(value)) {
    throw new ClientError(400, `${field} is invalid: ${JSON.stringify(value)}`);
  }
  return value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
