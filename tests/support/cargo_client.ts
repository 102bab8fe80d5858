// The real cargo against the registry under test, with nothing from the user's own setup: a fresh
// CARGO_HOME per role (publisher, consumer) holding only the config written here. Also builds
// .crate files and publish frames by hand, for requests cargo itself would never send.
import { join } from "node:path";
import { cargoConfigToml, cargoPublishConfigToml } from "../../src/registry/cargo/client_config.ts";
import { publishFrame } from "../../src/publish/cargo.ts";
import { hasProgram, type ProcessResult, runProcess } from "./process.ts";
import type { TestRegistry } from "./registry.ts";

export function hasCargo(): Promise<boolean> {
  return hasProgram("cargo");
}

export interface CargoEnv {
  home: string;
  targetDir: string;
  /** The write token, given as cargo reads it for `--registry vm`. */
  token?: string;
}

export function runCargo(args: string[], cwd: string, env: CargoEnv): Promise<ProcessResult> {
  return runProcess("cargo", args, {
    cwd,
    env: {
      CARGO_HOME: env.home,
      CARGO_TARGET_DIR: env.targetDir,
      CARGO_TERM_COLOR: "never",
      ...(env.token ? { CARGO_REGISTRIES_VM_TOKEN: env.token } : {}),
    },
  });
}

/**
 * A consumer's CARGO_HOME: crates.io replaced by the registry (what `vm pkg use` writes), so a
 * plain `name = "0.1"` dependency finds a private crate in the same index as crates.io's crates.
 * A publisher's adds the same index as the registry `vm` for `cargo publish --registry vm`.
 */
export async function cargoHome(
  dir: string,
  name: string,
  registryUrl: string,
  options: { publisher?: boolean } = {},
): Promise<string> {
  const home = join(dir, name);
  await Deno.mkdir(home, { recursive: true });
  const config = options.publisher
    ? cargoPublishConfigToml(registryUrl)
    : cargoConfigToml(registryUrl);
  await Deno.writeTextFile(join(home, "config.toml"), config);
  return home;
}

/** A crate directory with the given Cargo.toml and one source file. */
export async function writeCrate(
  dir: string,
  manifest: string[],
  source: { path: string; text: string },
): Promise<string> {
  await Deno.mkdir(join(dir, "src"), { recursive: true });
  await Deno.writeTextFile(join(dir, "Cargo.toml"), manifest.join("\n") + "\n");
  await Deno.writeTextFile(join(dir, source.path), source.text);
  return dir;
}

/** The lines of a sparse-index file, parsed. */
export async function indexLines(
  registry: TestRegistry,
  path: string,
): Promise<{ status: number; lines: Record<string, unknown>[] }> {
  const response = await fetch(`${registry.url}/cargo/index/${path}`);
  const text = await response.text();
  if (!response.ok) return { status: response.status, lines: [] };
  return {
    status: response.status,
    lines: text.trim().split("\n").filter((l) => l).map((line) => JSON.parse(line)),
  };
}

/** A minimal publish JSON, as cargo would send it for a crate without dependencies. */
export function newCrateJson(name: string, vers: string, extra: Record<string, unknown> = {}) {
  return {
    name,
    vers,
    deps: [],
    features: {},
    authors: [],
    description: `${name} for tests`,
    documentation: null,
    homepage: null,
    readme: null,
    readme_file: null,
    keywords: [],
    categories: [],
    license: "MIT",
    license_file: null,
    repository: null,
    badges: {},
    links: null,
    rust_version: null,
    ...extra,
  };
}

/** A .crate: a gzip-compressed tar with `<name>-<version>/Cargo.toml` and `src/lib.rs`. */
export async function crateArchive(name: string, version: string): Promise<Uint8Array> {
  const files: [string, string][] = [
    [
      `${name}-${version}/Cargo.toml`,
      `[package]\nname = "${name}"\nversion = "${version}"\nedition = "2021"\n`,
    ],
    [`${name}-${version}/src/lib.rs`, "pub fn answer() -> u32 { 42 }\n"],
  ];
  const blocks: Uint8Array[] = [];
  for (const [path, text] of files) {
    const data = new TextEncoder().encode(text);
    blocks.push(tarHeader(path, data.byteLength), data, new Uint8Array(pad(data.byteLength)));
  }
  blocks.push(new Uint8Array(1024));
  const tar = new Uint8Array(await new Blob(blocks as BlobPart[]).arrayBuffer());
  return gzip(tar);
}

export async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(
    new CompressionStream("gzip"),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** `PUT /cargo/api/v1/crates/new` with a frame built by hand; returns status and error detail. */
export async function putCrate(
  registry: TestRegistry,
  body: Uint8Array,
  headers: Record<string, string> = { authorization: registry.token },
): Promise<{ status: number; detail: string }> {
  const response = await fetch(`${registry.url}/cargo/api/v1/crates/new`, {
    method: "PUT",
    headers,
    body: body as BodyInit,
  });
  const json = await response.json();
  return { status: response.status, detail: json.errors?.[0]?.detail ?? "" };
}

/** A well-formed publish of a made-up crate. */
export async function crateUpload(
  name: string,
  version: string,
  extra: Record<string, unknown> = {},
): Promise<Uint8Array> {
  return publishFrame(newCrateJson(name, version, extra), await crateArchive(name, version));
}

function tarHeader(path: string, size: number): Uint8Array {
  const header = new Uint8Array(512);
  const put = (offset: number, text: string) => header.set(new TextEncoder().encode(text), offset);
  put(0, path);
  put(100, "0000644\0");
  put(108, "0000000\0");
  put(116, "0000000\0");
  put(124, size.toString(8).padStart(11, "0") + "\0");
  put(136, "00000000000\0");
  put(148, "        ");
  put(156, "0");
  put(257, "ustar\0");
  put(263, "00");
  const checksum = header.reduce((sum, byte) => sum + byte, 0);
  put(148, checksum.toString(8).padStart(6, "0") + "\0 ");
  return header;
}

function pad(size: number): number {
  return (512 - (size % 512)) % 512;
}

/** A publisher's cargo environment: `vm` as a registry next to the replacement, and the token. */
export async function publisherEnv(dir: string, registry: TestRegistry): Promise<CargoEnv> {
  return {
    home: await cargoHome(dir, "publisher", registry.url, { publisher: true }),
    targetDir: join(dir, "publisher-target"),
    token: registry.token,
  };
}

/**
 * Builds and runs a fresh consumer crate with `dependency` in a fresh CARGO_HOME whose only
 * configuration is the crates.io replacement; returns what it printed.
 */
export async function consumerRun(
  dir: string,
  registry: TestRegistry,
  dependency: string,
  main: string,
): Promise<string> {
  const project = await writeCrate(join(dir, "consumer"), [
    "[package]",
    'name = "consumer"',
    'version = "0.1.0"',
    'edition = "2021"',
    "",
    "[dependencies]",
    dependency,
  ], { path: "src/main.rs", text: main });
  const result = await runCargo(["run", "--quiet"], project, {
    home: await cargoHome(dir, "consumer-home", registry.url),
    targetDir: join(dir, "consumer-target"),
  });
  if (result.code !== 0) throw new Error(`the consumer did not build: ${result.stderr}`);
  return result.stdout.trim();
}
