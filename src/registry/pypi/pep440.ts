// PEP 440 versions, as far as an upload needs them: is a version valid, and its normalized form.
// Uploads are keyed by the normalized form, so `1.0.0-Alpha1` and `1.0.0a1` are one version, as
// they are to pip; and a wheel's file name carries the normalized form, so that is what the
// file name is compared with. A valid version can contain no `/`, `\`, `..`, NUL or whitespace.

// The grammar of `packaging.version.VERSION_PATTERN`, anchored, without surrounding whitespace.
const VERSION = new RegExp(
  "^v?" +
    "(?:(?<epoch>[0-9]+)!)?" +
    "(?<release>[0-9]+(?:\\.[0-9]+)*)" +
    "(?:[-_.]?(?<preL>alpha|a|beta|b|preview|pre|c|rc)[-_.]?(?<preN>[0-9]+)?)?" +
    "(?:-(?<postN1>[0-9]+)|[-_.]?(?<postL>post|rev|r)[-_.]?(?<postN2>[0-9]+)?)?" +
    "(?:[-_.]?(?<devL>dev)[-_.]?(?<devN>[0-9]+)?)?" +
    "(?:\\+(?<local>[a-z0-9]+(?:[-_.][a-z0-9]+)*))?$",
  "i",
);

/** PyPI has no limit of its own; this keeps KV keys and file names reasonable. */
const MAX_VERSION = 128;

const PRE_RELEASE: Record<string, string> = {
  a: "a",
  alpha: "a",
  b: "b",
  beta: "b",
  c: "rc",
  pre: "rc",
  preview: "rc",
  rc: "rc",
};

/** The normalized form of a valid PEP 440 version; undefined when it is not one. */
export function normalizeVersion(version: string): string | undefined {
  if (version.length > MAX_VERSION) return undefined;
  const groups = VERSION.exec(version)?.groups;
  if (!groups) return undefined;
  let out = "";
  const epoch = number(groups.epoch);
  if (epoch && epoch !== "0") out += `${epoch}!`;
  out += groups.release.split(".").map(number).join(".");
  if (groups.preL) out += PRE_RELEASE[groups.preL.toLowerCase()] + number(groups.preN ?? "0");
  if (groups.postN1 !== undefined) out += `.post${number(groups.postN1)}`;
  else if (groups.postL) out += `.post${number(groups.postN2 ?? "0")}`;
  if (groups.devL) out += `.dev${number(groups.devN ?? "0")}`;
  if (groups.local) out += `+${groups.local.toLowerCase().replace(/[-_]/g, ".")}`;
  return out;
}

/** Digits without leading zeros (strings, because release numbers can exceed 2^53). */
function number(digits: string): string;
function number(digits: string | undefined): string | undefined;
function number(digits: string | undefined): string | undefined {
  return digits === undefined ? undefined : digits.replace(/^0+(?=\d)/, "");
}
