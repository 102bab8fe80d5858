// PyPI request paths and project names (PEP 503 normalization, PEP 508 validity).

export type PypiRoute =
  | { kind: "root" }
  | { kind: "project"; name: string }
  | { kind: "redirect"; location: string }
  | { kind: "file"; project: string; filename: string }
  | { kind: "metadata"; project: string; filename: string };

const PROJECT_NAME = /^([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9])$/;
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._+!~-]*$/;
const MAX_NAME = 200;
const MAX_FILE_NAME = 255;

export function normalizeProjectName(name: string): string {
  return name.replace(/[-_.]+/g, "-").toLowerCase();
}

export function isValidProjectName(name: string): boolean {
  return name.length <= MAX_NAME && PROJECT_NAME.test(name);
}

export function isValidFileName(name: string): boolean {
  return name.length <= MAX_FILE_NAME && FILE_NAME.test(name) && !name.includes("..");
}

/** Parses the path after `/pypi/`; `prefix` is where the PyPI routes are mounted. */
export function parsePypiPath(rawPath: string, prefix: string): PypiRoute | undefined {
  let segments: string[];
  try {
    segments = rawPath.split("/").map((segment) => decodeURIComponent(segment));
  } catch {
    return undefined;
  }
  if (segments.some((segment) => segment.includes("/") || segment.includes("\0"))) return undefined;
  const [area, ...rest] = segments;
  if (area === "simple") {
    if (rest.length === 0) return { kind: "redirect", location: `${prefix}/simple/` };
    if (rest.length === 1 && rest[0] === "") return { kind: "root" };
    const [name, trailing, ...extra] = rest;
    if (extra.length > 0 || (trailing !== undefined && trailing !== "")) return undefined;
    if (!isValidProjectName(name)) return undefined;
    const normalized = normalizeProjectName(name);
    if (name !== normalized || trailing === undefined) {
      return { kind: "redirect", location: `${prefix}/simple/${normalized}/` };
    }
    return { kind: "project", name };
  }
  if (area === "files" && rest.length === 2) {
    const [project, filename] = rest;
    if (!isValidProjectName(project) || project !== normalizeProjectName(project)) return undefined;
    if (!isValidFileName(filename)) return undefined;
    if (filename.endsWith(".metadata")) {
      return { kind: "metadata", project, filename: filename.slice(0, -".metadata".length) };
    }
    return { kind: "file", project, filename };
  }
  return undefined;
}
