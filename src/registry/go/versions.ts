// Go's semantic versions, as golang.org/x/mod/semver and module.Check read them. A module's
// .mod and .zip exist only for canonical versions (v1.2.3, v1.2.3-pre, v2.0.0+incompatible,
// pseudo-versions), whose major version agrees with the module path's /vN suffix; `.info` also
// answers queries (a branch, a commit), which are plain file-name elements.

const NUMBER = "(0|[1-9][0-9]*)";
const PRERELEASE_ID = "(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)";
const BUILD_ID = "[0-9A-Za-z-]+";
/** vMAJOR[.MINOR[.PATCH[-pre][+build]]], the shorthands without pre-release or build. */
const SEMVER = new RegExp(
  `^v${NUMBER}(?:\\.${NUMBER}(?:\\.${NUMBER}` +
    `(-${PRERELEASE_ID}(?:\\.${PRERELEASE_ID})*)?(\\+${BUILD_ID}(?:\\.${BUILD_ID})*)?)?)?$`,
);

export interface Semver {
  major: string;
  minor: string;
  patch: string;
  prerelease: string;
  build: string;
}

/** The parts of a valid Go semantic version (shorthands filled in), or undefined. */
export function parseSemver(version: string): Semver | undefined {
  const match = SEMVER.exec(version);
  if (!match) return undefined;
  const [, major, minor = "0", patch = "0", prerelease = "", build = ""] = match;
  return { major, minor, patch, prerelease, build };
}

/** module.CanonicalVersion: semver.Canonical, keeping the special `+incompatible` build. */
export function canonicalVersion(version: string): string | undefined {
  const parsed = parseSemver(version);
  if (!parsed) return undefined;
  const core = `v${parsed.major}.${parsed.minor}.${parsed.patch}${parsed.prerelease}`;
  return parsed.build === "+incompatible" ? `${core}+incompatible` : core;
}

/**
 * Why `version` cannot be a version of the module `path` whose files (.mod, .zip) and checksum
 * records exist (module.Check plus canonical form), or undefined when it can.
 */
export function fileVersionProblem(path: string, version: string): string | undefined {
  const canonical = canonicalVersion(version);
  if (canonical === undefined) return `${version} is not a semantic version`;
  if (canonical !== version) return `${version} is not canonical (${canonical} is)`;
  return pathMajorProblem(version, pathMajorOf(path));
}

/** The major-version suffix of a module path: "/v2", ".v3" (gopkg.in), or "". */
export function pathMajorOf(path: string): string {
  if (path.startsWith("gopkg.in/")) {
    const match = /\.(v[0-9]+)(-unstable)?$/.exec(path);
    return match ? `.${match[1]}${match[2] ?? ""}` : "";
  }
  const match = /\/(v[0-9]+)$/.exec(path);
  return match ? `/${match[1]}` : "";
}

/** module.CheckPathMajor: the version's major must be the one the path's suffix names. */
function pathMajorProblem(version: string, pathMajor: string): string | undefined {
  const major = `v${parseSemver(version)!.major}`;
  const suffix = pathMajor.replace(/-unstable$/, "");
  // An old bug generated v0.0.0- pseudo-versions for gopkg.in .v1 paths; Go accepts them.
  if (version.startsWith("v0.0.0-") && suffix === ".v1") return undefined;
  if (suffix === "") {
    if (major === "v0" || major === "v1" || version.endsWith("+incompatible")) return undefined;
    return `${version} should be v0 or v1, not ${major}`;
  }
  const wanted = suffix.slice(1);
  return major === wanted ? undefined : `${version} should be ${wanted}, not ${major}`;
}
