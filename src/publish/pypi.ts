// `vm pkg add` for Python projects: build with the user's own Python (the `build` frontend when it
// is installed, else `pip wheel`), then upload each file through the registry's legacy upload API,
// the same multipart form twine sends, with the token as HTTP Basic password of `__token__`.
// Builds run in the user's environment as it is (index, find-links, proxies): that is what
// building the project means for them.
import { createHash } from "node:crypto";
import { basename, join } from "node:path";
import { ALLOW_SHADOW_HEADER } from "../registry/private_policy.ts";
import { normalizeProjectName } from "../registry/pypi/names.ts";
import { runTool } from "./run_tool.ts";
import {
  type BuiltFile,
  type BuiltPackage,
  PublishError,
  serverMessage,
  type UploadOptions,
} from "./types.ts";

const PYTHON = "python3";
const PROJECT_FILES = ["pyproject.toml", "setup.py", "setup.cfg"];
const DIST_EXTENSIONS = [".whl", ".tar.gz", ".zip"];

/** The core metadata fields an upload sends, read from the built file itself. */
interface CoreMetadata {
  metadataVersion: string | null;
  name: string | null;
  version: string | null;
  summary: string | null;
  requiresPython: string | null;
}

// Reads METADATA (wheel) or PKG-INFO (sdist) with Python's own parsers: the email header format
// of core metadata has folding and encoding rules not worth re-implementing.
const READ_METADATA = `
import email.parser, json, sys, tarfile, zipfile
path = sys.argv[1]
def top_level(names, suffixes):
    return next((n for n in names if n.count("/") == 1 and n.endswith(suffixes)), None)
if path.endswith((".whl", ".zip")):
    with zipfile.ZipFile(path) as archive:
        member = top_level(archive.namelist(), (".dist-info/METADATA", "/PKG-INFO"))
        raw = archive.read(member) if member else b""
else:
    with tarfile.open(path) as archive:
        member = top_level(archive.getnames(), ("/PKG-INFO",))
        raw = archive.extractfile(member).read() if member else b""
headers = email.parser.BytesParser().parsebytes(raw, headersonly=True)
print(json.dumps({
    "metadataVersion": headers.get("Metadata-Version"),
    "name": headers.get("Name"),
    "version": headers.get("Version"),
    "summary": headers.get("Summary"),
    "requiresPython": headers.get("Requires-Python"),
}))
`;

/** Whether the directory is a Python project (what `pip install .` would accept). */
export async function isPypiProject(dir: string): Promise<boolean> {
  for (const name of PROJECT_FILES) {
    try {
      if ((await Deno.stat(join(dir, name))).isFile) return true;
    } catch {
      // not there
    }
  }
  return false;
}

/** Builds the project into a new temp dir (sdist and wheel with `build`, else a wheel). */
export async function buildPypi(projectDir: string): Promise<BuiltPackage> {
  if (!await isPypiProject(projectDir)) {
    throw new PublishError(
      `${projectDir} is not a Python project (no ${PROJECT_FILES.join(", ")})`,
    );
  }
  const outDir = await Deno.makeTempDir({ prefix: "vm-pkg-pypi-" });
  try {
    if (await hasBuildFrontend()) {
      await runTool(PYTHON, ["-m", "build", "--outdir", outDir, "."], {
        cwd: projectDir,
        what: "building the Python package",
      });
    } else {
      // Build isolation (pip's default) fetches the build backend from the user's index, as
      // `python -m build` would; without it a project needing a newer setuptools fails.
      await runTool(PYTHON, ["-m", "pip", "wheel", "--no-deps", "--wheel-dir", outDir, "."], {
        cwd: projectDir,
        what: "building the Python wheel",
      });
    }
    const files = await distributionFiles(outDir);
    if (files.length === 0) {
      throw new PublishError(`building ${projectDir} produced no wheel or sdist`);
    }
    // A wheel's METADATA is what installers read; an sdist's PKG-INFO only when there is none.
    const source = files.find((file) => file.filename.endsWith(".whl")) ?? files[0];
    const meta = await readCoreMetadata(source.path);
    if (!meta.name || !meta.version) {
      throw new PublishError(`${source.filename} has no Name or Version in its metadata`);
    }
    return {
      type: "pypi",
      name: normalizeProjectName(meta.name),
      version: meta.version,
      files,
      tempDir: outDir,
    };
  } catch (error) {
    await Deno.remove(outDir, { recursive: true }).catch(() => {});
    throw error;
  }
}

/** Uploads every built file; a file the registry refuses stops the upload with its message. */
export async function uploadPypi(built: BuiltPackage, options: UploadOptions): Promise<void> {
  const url = `${options.registryUrl.replace(/\/+$/, "")}/pypi/legacy/`;
  const headers: Record<string, string> = {
    authorization: `Basic ${btoa(`__token__:${options.token}`)}`,
  };
  if (options.allowShadow) headers[ALLOW_SHADOW_HEADER] = "true";
  for (const file of built.files) {
    const form = await uploadForm(built, file);
    let response: Response;
    try {
      // A redirect means a wrong URL: following it would lose the body (and twine refuses too).
      response = await fetch(url, { method: "POST", headers, body: form, redirect: "manual" });
    } catch (error) {
      throw new PublishError(`cannot reach the registry at ${url}: ${(error as Error).message}`);
    }
    if (!response.ok) {
      throw new PublishError(
        `${file.filename}: ${await serverMessage(response)}`,
        response.status,
      );
    }
    await response.body?.cancel();
  }
}

/** The multipart form twine sends for one file. */
async function uploadForm(built: BuiltPackage, file: BuiltFile): Promise<FormData> {
  const bytes = await Deno.readFile(file.path);
  const meta = await readCoreMetadata(file.path);
  const isWheel = file.filename.endsWith(".whl");
  const fields: Record<string, string | null> = {
    ":action": "file_upload",
    protocol_version: "1",
    metadata_version: meta.metadataVersion,
    name: meta.name ?? built.name,
    version: meta.version ?? built.version,
    filetype: isWheel ? "bdist_wheel" : "sdist",
    // The Python tag of a wheel ({name}-{version}[-{build}]-{python}-{abi}-{platform}.whl).
    pyversion: isWheel ? file.filename.slice(0, -".whl".length).split("-").at(-3)! : "source",
    summary: meta.summary,
    requires_python: meta.requiresPython,
    sha256_digest: createHash("sha256").update(bytes).digest("hex"),
    md5_digest: createHash("md5").update(bytes).digest("hex"),
  };
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) {
    if (value !== null) form.append(name, value);
  }
  form.append("content", new File([bytes], file.filename, { type: "application/octet-stream" }));
  return form;
}

async function readCoreMetadata(path: string): Promise<CoreMetadata> {
  const { stdout } = await runTool(PYTHON, ["-c", READ_METADATA, path], {
    cwd: ".",
    what: `reading the metadata of ${basename(path)}`,
  });
  return JSON.parse(stdout) as CoreMetadata;
}

async function hasBuildFrontend(): Promise<boolean> {
  try {
    const { success } = await new Deno.Command(PYTHON, {
      args: ["-c", "import build"],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output();
    return success;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new PublishError(
        `publishing a Python package needs \`${PYTHON}\`, which is not installed`,
      );
    }
    throw error;
  }
}

async function distributionFiles(dir: string): Promise<BuiltFile[]> {
  const files: BuiltFile[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.isFile || !DIST_EXTENSIONS.some((ext) => entry.name.endsWith(ext))) continue;
    const path = join(dir, entry.name);
    files.push({ path, filename: entry.name, size: (await Deno.stat(path)).size });
  }
  // sdist first, as twine orders them: the source is there before any wheel built from it.
  return files.sort((a, b) =>
    Number(a.filename.endsWith(".whl")) - Number(b.filename.endsWith(".whl")) ||
    a.filename.localeCompare(b.filename)
  );
}
