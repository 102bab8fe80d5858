// `vm pkg add` for npm packages: `npm pack` builds the tarball (running the package's prepack
// scripts, honouring `files` and .npmignore, exactly as `npm publish` would), and the upload is
// the document `npm publish` sends (PUT /npm/<name> with the version manifest and the tarball
// as a base64 attachment, Bearer token), so there is one publish path on the server.
import { join } from "node:path";
import { ALLOW_SHADOW_HEADER } from "../registry/private_policy.ts";
import { runTool } from "./run_tool.ts";
import { type BuiltPackage, PublishError, serverMessage, type UploadOptions } from "./types.ts";

type Json = Record<string, unknown>;

interface PackResult {
  name: string;
  version: string;
  filename: string;
  integrity: string;
  shasum: string;
  size: number;
}

export interface NpmBuiltPackage extends BuiltPackage {
  type: "npm";
  /** package.json as it is published (the version manifest). */
  manifest: Json;
  integrity: string;
  shasum: string;
}

export async function isNpmProject(dir: string): Promise<boolean> {
  try {
    return (await Deno.stat(join(dir, "package.json"))).isFile;
  } catch {
    return false;
  }
}

export async function buildNpm(projectDir: string): Promise<NpmBuiltPackage> {
  let manifest: Json;
  try {
    manifest = JSON.parse(await Deno.readTextFile(join(projectDir, "package.json")));
  } catch (error) {
    throw new PublishError(`package.json cannot be read: ${(error as Error).message}`);
  }
  if (manifest.private === true) {
    throw new PublishError('package.json says "private": true, so npm would not publish it');
  }
  if (typeof manifest.name !== "string" || typeof manifest.version !== "string") {
    throw new PublishError("package.json needs a name and a version to be published");
  }
  const outDir = await Deno.makeTempDir({ prefix: "vm-pkg-add-npm-" });
  const { stdout } = await runTool(
    "npm",
    ["pack", "--json", "--pack-destination", outDir, "--loglevel=error"],
    { cwd: projectDir, what: "npm pack" },
  ).catch(async (error) => {
    await Deno.remove(outDir, { recursive: true }).catch(() => {});
    throw error;
  });
  // npm prints prepack script output before the JSON on stdout: the JSON is the last array.
  const start = stdout.lastIndexOf("\n[");
  let packed: PackResult;
  try {
    packed = JSON.parse(stdout.slice(start >= 0 ? start + 1 : 0))[0];
  } catch {
    throw new PublishError("npm pack did not report what it packed");
  }
  const path = join(outDir, packed.filename);
  const size = (await Deno.stat(path)).size;
  return {
    type: "npm",
    name: packed.name,
    version: packed.version,
    files: [{ path, filename: packed.filename.replace(/^.*\//, ""), size }],
    tempDir: outDir,
    manifest,
    integrity: packed.integrity,
    shasum: packed.shasum,
  };
}

export async function uploadNpm(built: BuiltPackage, options: UploadOptions): Promise<void> {
  if (!isNpmBuilt(built)) throw new PublishError("not an npm package build");
  const tarball = await Deno.readFile(built.files[0].path);
  const { name, version } = built;
  const unscoped = name.slice(name.lastIndexOf("/") + 1);
  const document = {
    _id: name,
    name,
    description: built.manifest.description,
    "dist-tags": { latest: version },
    versions: {
      [version]: {
        ...built.manifest,
        _id: `${name}@${version}`,
        dist: { integrity: built.integrity, shasum: built.shasum, tarball: "" },
      },
    },
    access: null,
    _attachments: {
      [`${unscoped}-${version}.tgz`]: {
        content_type: "application/octet-stream",
        data: tarball.toBase64(),
        length: tarball.byteLength,
      },
    },
  };
  const namePath = name.startsWith("@") ? `@${encodeURIComponent(name.slice(1))}` : name;
  const response = await fetch(`${options.registryUrl}/npm/${namePath}`, {
    method: "PUT",
    headers: {
      "content-type": "application/json",
      authorization: `Bearer ${options.token}`,
      ...(options.allowShadow ? { [ALLOW_SHADOW_HEADER]: "true" } : {}),
    },
    body: JSON.stringify(document),
  });
  if (!response.ok) throw new PublishError(await serverMessage(response), response.status);
  await response.body?.cancel();
}

function isNpmBuilt(built: BuiltPackage): built is NpmBuiltPackage {
  return built.type === "npm" && "manifest" in built;
}
