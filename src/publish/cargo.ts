// `vm pkg add` for Rust crates: `cargo package` builds the .crate, `cargo metadata` tells what
// the manifest says, and the upload is the request `cargo publish` sends (PUT
// /cargo/api/v1/crates/new with the JSON metadata and the .crate in one frame, the bare token in
// Authorization), so there is one publish path on the server.
//
// `cargo package --no-verify` does not compile the crate; it still resolves the dependencies
// once (for the Cargo.lock it puts in the .crate) through whatever sources the user's cargo
// config names. That is harmless: source replacement (vendoring, a mirror, this registry) only
// decides where that lookup goes, never what the .crate or the publish metadata contain.
import { join, resolve } from "node:path";
import { cargoSparseIndexUrl } from "../registry/cargo/client_config.ts";
import { ALLOW_SHADOW_HEADER } from "../registry/private_policy.ts";
import { runTool } from "./run_tool.ts";
import { type BuiltPackage, PublishError, serverMessage, type UploadOptions } from "./types.ts";

/** How cargo names crates.io in a dependency's `registry` when publishing elsewhere. */
const CRATES_IO_INDEX = "https://github.com/rust-lang/crates.io-index";

/** A dependency in the publish JSON (cargo's `NewCrateDependency`). */
export interface PublishDependency {
  optional: boolean;
  default_features: boolean;
  name: string;
  features: string[];
  version_req: string;
  target: string | null;
  kind: "normal" | "dev" | "build";
  registry?: string;
  explicit_name_in_toml?: string;
}

/** The publish JSON `cargo publish` sends (cargo's `NewCrate`). */
export interface PublishMetadata {
  name: string;
  vers: string;
  deps: PublishDependency[];
  features: Record<string, string[]>;
  authors: string[];
  description: string | null;
  documentation: string | null;
  homepage: string | null;
  readme: string | null;
  readme_file: string | null;
  keywords: string[];
  categories: string[];
  license: string | null;
  license_file: string | null;
  repository: string | null;
  badges: Record<string, Record<string, string>>;
  links: string | null;
  rust_version: string | null;
}

/** A built crate: the .crate file, and the metadata its upload sends. */
export interface CargoBuiltPackage extends BuiltPackage {
  type: "cargo";
  publishMetadata: PublishMetadata;
}

/** The parts of a `cargo metadata` package this module reads. */
export interface CargoMetadataPackage {
  name: string;
  version: string;
  manifest_path: string;
  authors: string[];
  description: string | null;
  documentation: string | null;
  homepage: string | null;
  readme: string | null;
  keywords: string[];
  categories: string[];
  license: string | null;
  license_file: string | null;
  repository: string | null;
  links: string | null;
  rust_version: string | null;
  publish: string[] | null;
  features: Record<string, string[]>;
  dependencies: {
    name: string;
    req: string;
    kind: "dev" | "build" | null;
    rename: string | null;
    optional: boolean;
    uses_default_features: boolean;
    features: string[];
    target: string | null;
    registry: string | null;
    path?: string;
  }[];
}

interface CargoMetadata {
  packages: CargoMetadataPackage[];
  target_directory: string;
}

/** Whether the directory holds a Cargo.toml. */
export async function isCargoProject(dir: string): Promise<boolean> {
  try {
    return (await Deno.stat(join(dir, "Cargo.toml"))).isFile;
  } catch {
    return false;
  }
}

/**
 * Packages the crate in `projectDir` into `<target dir>/package/<name>-<version>.crate` (the
 * target dir as cargo resolves it: CARGO_TARGET_DIR, `build.target-dir`, or ./target).
 * `--allow-dirty`: publishing here is an explicit act on the working copy as it is.
 */
export async function buildCargo(
  projectDir: string,
  options: { env?: Record<string, string> } = {},
): Promise<CargoBuiltPackage> {
  if (!await isCargoProject(projectDir)) {
    throw new PublishError(`${projectDir} is not a Rust project (no Cargo.toml)`);
  }
  const env = { CARGO_TERM_COLOR: "never", ...options.env };
  const { stdout } = await runTool(
    "cargo",
    ["metadata", "--format-version", "1", "--no-deps"],
    { cwd: projectDir, env, what: "reading the crate's Cargo.toml" },
  );
  const metadata = JSON.parse(stdout) as CargoMetadata;
  const manifest = await Deno.realPath(join(projectDir, "Cargo.toml"));
  const manifests = await Promise.all(
    metadata.packages.map((p) => Deno.realPath(p.manifest_path).catch(() => p.manifest_path)),
  );
  const pkg = metadata.packages.find((_, i) => manifests[i] === manifest);
  if (!pkg) {
    throw new PublishError(
      `${projectDir} is a workspace without a package of its own; run this in the directory ` +
        "of the crate to publish",
    );
  }
  if (pkg.publish !== null && pkg.publish.length === 0) {
    throw new PublishError(
      `${pkg.name}'s Cargo.toml says publish = false; list the registry instead ` +
        `(publish = ["vm"]) to allow publishing it here`,
    );
  }
  await runTool("cargo", ["package", "--allow-dirty", "--no-verify", "--package", pkg.name], {
    cwd: projectDir,
    env,
    what: `packaging ${pkg.name} ${pkg.version}`,
  });
  const filename = `${pkg.name}-${pkg.version}.crate`;
  const path = join(metadata.target_directory, "package", filename);
  let size: number;
  try {
    size = (await Deno.stat(path)).size;
  } catch {
    throw new PublishError(`cargo package did not produce ${path}`);
  }
  return {
    type: "cargo",
    name: pkg.name,
    version: pkg.version,
    files: [{ path, filename, size }],
    publishMetadata: publishMetadata(pkg, await readReadme(pkg)),
  };
}

/** Uploads the .crate as `cargo publish --registry` would. */
export async function uploadCargo(built: BuiltPackage, options: UploadOptions): Promise<void> {
  if (!("publishMetadata" in built) || built.files.length !== 1) {
    throw new PublishError(`${built.name} was not built by buildCargo`);
  }
  const registryUrl = options.registryUrl.replace(/\/+$/, "");
  const meta = (built as CargoBuiltPackage).publishMetadata;
  // A dependency on this same registry is sent without `registry`, as cargo does.
  const ours = cargoSparseIndexUrl(registryUrl);
  const deps = meta.deps.map(({ registry, ...dep }) =>
    registry === ours ? dep : { ...dep, registry }
  );
  const body = publishFrame({ ...meta, deps }, await Deno.readFile(built.files[0].path));
  const headers: Record<string, string> = { authorization: options.token };
  if (options.allowShadow) headers[ALLOW_SHADOW_HEADER] = "true";
  const url = `${registryUrl}/cargo/api/v1/crates/new`;
  let response: Response;
  try {
    response = await fetch(url, {
      method: "PUT",
      headers,
      body: body as BodyInit,
      redirect: "manual",
    });
  } catch (error) {
    throw new PublishError(`cannot reach the registry at ${url}: ${(error as Error).message}`);
  }
  if (!response.ok) throw new PublishError(await serverMessage(response), response.status);
  await response.body?.cancel();
}

/** cargo's publish body: u32 LE JSON length, the JSON, u32 LE crate length, the .crate. */
export function publishFrame(meta: unknown, crate: Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(meta));
  const frame = new Uint8Array(8 + json.byteLength + crate.byteLength);
  const view = new DataView(frame.buffer);
  view.setUint32(0, json.byteLength, true);
  frame.set(json, 4);
  view.setUint32(4 + json.byteLength, crate.byteLength, true);
  frame.set(crate, 8 + json.byteLength);
  return frame;
}

/** The publish JSON for a package as `cargo metadata` describes it. */
export function publishMetadata(pkg: CargoMetadataPackage, readme: string | null): PublishMetadata {
  const deps = pkg.dependencies
    // cargo publish leaves out dev-dependencies without a version (path-only); a normal or build
    // dependency without one has already made `cargo package` fail.
    .filter((dep) => !(dep.kind === "dev" && dep.path !== undefined && dep.req === "*"))
    .map((dep): PublishDependency => ({
      optional: dep.optional,
      default_features: dep.uses_default_features,
      name: dep.name,
      features: dep.features,
      version_req: dep.req,
      target: dep.target,
      kind: dep.kind ?? "normal",
      // `registry: null` in cargo metadata means crates.io; in the publish JSON, "this registry".
      registry: dep.registry ?? CRATES_IO_INDEX,
      ...(dep.rename ? { explicit_name_in_toml: dep.rename } : {}),
    }));
  return {
    name: pkg.name,
    vers: pkg.version,
    deps,
    features: declaredFeatures(pkg),
    authors: pkg.authors,
    description: pkg.description,
    documentation: pkg.documentation,
    homepage: pkg.homepage,
    readme,
    readme_file: pkg.readme,
    keywords: pkg.keywords,
    categories: pkg.categories,
    license: pkg.license,
    license_file: pkg.license_file,
    repository: pkg.repository,
    badges: {},
    links: pkg.links,
    rust_version: pkg.rust_version,
  };
}

/**
 * The features as Cargo.toml declares them, which is what cargo publishes. `cargo metadata` adds
 * the implicit feature `x = ["dep:x"]` for every optional dependency `x` that no feature names
 * with `dep:`; those are dropped again (cargo re-creates them when it reads the index).
 */
function declaredFeatures(pkg: CargoMetadataPackage): Record<string, string[]> {
  const optional = new Set(
    pkg.dependencies.filter((d) => d.optional).map((d) => d.rename ?? d.name),
  );
  const features: Record<string, string[]> = {};
  for (const [feature, values] of Object.entries(pkg.features)) {
    const implicit = optional.has(feature) && values.length === 1 &&
      values[0] === `dep:${feature}` &&
      !Object.entries(pkg.features).some(([other, vs]) =>
        other !== feature && vs.includes(`dep:${feature}`)
      );
    if (!implicit) features[feature] = values;
  }
  return features;
}

async function readReadme(pkg: CargoMetadataPackage): Promise<string | null> {
  if (!pkg.readme) return null;
  try {
    return await Deno.readTextFile(resolve(pkg.manifest_path, "..", pkg.readme));
  } catch {
    return null;
  }
}
