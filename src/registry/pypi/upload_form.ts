// Reading and checking one upload of the legacy upload API that twine and `uv publish` speak: a
// multipart form with `:action=file_upload`, the file in `content`, and its metadata in plain
// fields. Everything is checked here, before anything is stored: a bad upload is a 4xx with a
// message that says what is wrong, and leaves no trace.
import { createHash } from "node:crypto";
import { ClientError, readLimitedBody } from "../request_body.ts";
import { isValidFileName, isValidProjectName, normalizeProjectName } from "./names.ts";
import { normalizeVersion } from "./pep440.ts";

export type PypiFiletype = "sdist" | "bdist_wheel";

/** What the project page needs of one uploaded file, kept in the version's metadata blob. */
export interface PypiFileMeta {
  filetype: PypiFiletype;
  /** `source` for sdists, the Python tag for wheels (e.g. `py3`), as the client sent it. */
  pyversion: string;
  requiresPython?: string;
  metadataVersion?: string;
  summary?: string;
  /** ISO 8601, the PEP 700 `upload-time`. */
  uploadedAt: string;
}

/** The metadata blob of a private version (PrivateVersion.metaDigest). */
export interface PypiVersionMeta {
  /** The project name as the publisher spelled it. */
  name: string;
  version: string;
  files: Record<string, PypiFileMeta>;
}

export interface PypiUpload {
  /** Normalized (PEP 503). */
  project: string;
  /** As the publisher spelled it. */
  displayName: string;
  /** Normalized (PEP 440). */
  version: string;
  filename: string;
  content: Uint8Array;
  meta: Omit<PypiFileMeta, "uploadedAt">;
}

/** Free-text fields are echoed into pages; they are short on PyPI too. */
const MAX_FIELD = 2048;

/**
 * The request's form, read through the upload size limit (413) whatever the framing, so a chunked
 * body cannot push memory past it. A body that is not a multipart form is a 400.
 */
export async function readUploadForm(request: Request): Promise<FormData> {
  const contentType = request.headers.get("content-type") ?? "";
  if (!/^multipart\/form-data\s*;/i.test(contentType)) {
    await request.body?.cancel().catch(() => {});
    throw new ClientError(400, "an upload must be a multipart/form-data body (as twine sends)");
  }
  const body = await readLimitedBody(request);
  try {
    return await new Response(body as BodyInit, { headers: { "content-type": contentType } })
      .formData();
  } catch (error) {
    throw new ClientError(400, `the upload is not a valid multipart form: ${errorText(error)}`);
  }
}

/** Checks an upload form completely; throws a ClientError naming the first problem. */
export async function parseUpload(form: FormData): Promise<PypiUpload> {
  const action = field(form, ":action");
  if (action !== "file_upload") {
    throw new ClientError(400, `unsupported :action ${quote(action)}: only file_upload is`);
  }
  const protocol = field(form, "protocol_version");
  if (protocol !== undefined && protocol !== "1") {
    throw new ClientError(400, `unsupported protocol_version ${quote(protocol)}`);
  }
  const displayName = required(form, "name");
  if (!isValidProjectName(displayName)) {
    throw new ClientError(400, `${quote(displayName)} is not a valid project name`);
  }
  const project = normalizeProjectName(displayName);
  const givenVersion = required(form, "version");
  const version = normalizeVersion(givenVersion);
  if (!version) {
    throw new ClientError(400, `${quote(givenVersion)} is not a valid PEP 440 version`);
  }
  const filetype = required(form, "filetype");
  if (filetype !== "sdist" && filetype !== "bdist_wheel") {
    throw new ClientError(400, `filetype ${quote(filetype)} is not supported: use sdist or wheels`);
  }

  const file = form.get("content");
  if (!(file instanceof File)) throw new ClientError(400, "the upload has no file in `content`");
  const filename = file.name;
  checkFileName(filename);
  checkFileIdentity(filename, filetype, project, version);
  const content = new Uint8Array(await file.arrayBuffer());
  if (content.byteLength === 0) throw new ClientError(400, `${filename} is empty`);
  checkFormat(filename, content);
  checkDigest(form, "sha256_digest", "sha256", content, filename);
  checkDigest(form, "md5_digest", "md5", content, filename);

  return {
    project,
    displayName,
    version,
    filename,
    content,
    meta: {
      filetype,
      pyversion: optional(form, "pyversion") ?? (filetype === "sdist" ? "source" : ""),
      requiresPython: optional(form, "requires_python"),
      metadataVersion: optional(form, "metadata_version"),
      summary: optional(form, "summary"),
    },
  };
}

function checkFileName(filename: string): void {
  if (/[/\\\0]/.test(filename) || filename.includes("..")) {
    throw new ClientError(400, `file name ${quote(filename)} must not contain a path`);
  }
  if (!isValidFileName(filename)) {
    throw new ClientError(400, `${quote(filename)} is not a valid distribution file name`);
  }
}

/** The file name must name this project and version, and match the declared file type. */
function checkFileIdentity(
  filename: string,
  filetype: PypiFiletype,
  project: string,
  version: string,
): void {
  const isWheel = filename.endsWith(".whl");
  const sdistExtension = [".tar.gz", ".zip"].find((ext) => filename.endsWith(ext));
  if (filetype === "bdist_wheel" && !isWheel) {
    throw new ClientError(400, `filetype bdist_wheel, but ${filename} is not a .whl`);
  }
  if (filetype === "sdist" && !sdistExtension) {
    throw new ClientError(400, `filetype sdist, but ${filename} is not a .tar.gz or .zip`);
  }
  let names: { name: string; version: string }[];
  if (isWheel) {
    // {distribution}-{version}(-{build})?-{python}-{abi}-{platform}.whl; names and versions in
    // wheel names escape `-` as `_`.
    const parts = filename.slice(0, -".whl".length).split("-");
    if (parts.length !== 5 && parts.length !== 6) {
      throw new ClientError(400, `${filename} is not a valid wheel file name`);
    }
    names = [{ name: parts[0], version: parts[1].replaceAll("_", "-") }];
  } else {
    // {name}-{version}.tar.gz, where old sdists keep dashes in the name: try every split.
    const stem = filename.slice(0, -sdistExtension!.length);
    names = [...stem.matchAll(/-/g)].map((dash) => ({
      name: stem.slice(0, dash.index),
      version: stem.slice(dash.index + 1),
    }));
  }
  if (!names.some((candidate) => normalizeProjectName(candidate.name) === project)) {
    throw new ClientError(400, `${filename} is not a file of ${project}`);
  }
  const matches = names.some((candidate) =>
    normalizeProjectName(candidate.name) === project &&
    normalizeVersion(candidate.version) === version
  );
  if (!matches) throw new ClientError(400, `${filename} is not version ${version} of ${project}`);
}

/** Wheels are zip files; sdists gzip'd tarballs or zip files. */
function checkFormat(filename: string, content: Uint8Array): void {
  const isZip = startsWith(content, [0x50, 0x4b, 0x03, 0x04]);
  const isGzip = startsWith(content, [0x1f, 0x8b]);
  if (filename.endsWith(".tar.gz") ? !isGzip : !isZip) {
    const expected = filename.endsWith(".tar.gz") ? "a gzip file" : "a zip file";
    throw new ClientError(400, `${filename} is not ${expected}`);
  }
}

function checkDigest(
  form: FormData,
  fieldName: string,
  algorithm: string,
  content: Uint8Array,
  filename: string,
): void {
  const given = optional(form, fieldName)?.toLowerCase();
  if (given === undefined) return;
  const actual = createHash(algorithm).update(content).digest("hex");
  if (given !== actual) {
    throw new ClientError(
      400,
      `${fieldName} does not match ${filename} (its ${algorithm} is ${actual})`,
    );
  }
}

function field(form: FormData, name: string): string | undefined {
  const value = form.get(name);
  if (value === null) return undefined;
  if (typeof value !== "string") throw new ClientError(400, `${name} must be a text field`);
  if (value.length > MAX_FIELD || /[\0\r\n]/.test(value)) {
    throw new ClientError(400, `${name} is too long or is not one line`);
  }
  return value;
}

/** A field that may be missing or empty (twine sends every metadata field, often empty). */
function optional(form: FormData, name: string): string | undefined {
  const value = field(form, name)?.trim();
  return value ? value : undefined;
}

/** Not trimmed: a name or version with stray whitespace is refused, not repaired. */
function required(form: FormData, name: string): string {
  const value = field(form, name);
  if (!value) throw new ClientError(400, `the upload has no ${name}`);
  return value;
}

function startsWith(bytes: Uint8Array, prefix: number[]): boolean {
  return prefix.every((byte, i) => bytes[i] === byte);
}

function quote(value: string | undefined): string {
  return value === undefined ? "(missing)" : JSON.stringify(value);
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
