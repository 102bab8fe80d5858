// PyPI project and file names (PEP 503 normalization, PEP 508 validity), and the parameters of
// PyPI routes (the routes themselves are in handler.ts).
import { decodeSegment } from "../route_table.ts";

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

/**
 * A project name from the path, as given and in its PEP 503 form (a page under another spelling
 * redirects to that one), or undefined when it is not a valid name.
 */
export function projectParam(raw: string): { name: string; normalized: string } | undefined {
  const name = decodeSegment(raw);
  if (name === undefined || !isValidProjectName(name)) return undefined;
  return { name, normalized: normalizeProjectName(name) };
}

/**
 * A file path's project (in its normalized form only: file URLs are ours) and file name; a name
 * ending in `.metadata` asks for the PEP 658 metadata of the file before it.
 */
export function fileParam(
  rawProject: string,
  rawFile: string,
): { project: string; filename: string; metadata: boolean } | undefined {
  const project = decodeSegment(rawProject);
  const filename = decodeSegment(rawFile);
  if (project === undefined || filename === undefined) return undefined;
  if (!isValidProjectName(project) || project !== normalizeProjectName(project)) return undefined;
  if (!isValidFileName(filename)) return undefined;
  const metadata = filename.endsWith(".metadata");
  return {
    project,
    filename: metadata ? filename.slice(0, -".metadata".length) : filename,
    metadata,
  };
}
