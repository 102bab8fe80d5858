// One measured `cargo fetch` of a realistic manifest with a fresh, empty CARGO_HOME: index files
// and every .crate of the resolved tree (for all platforms, as `cargo fetch` does), either from
// crates.io directly or through `vm pkg` as the crates.io replacement.
import { join } from "node:path";
import { cargoConfigToml } from "../src/registry/cargo/client_config.ts";

/** A service-shaped manifest: async runtime, serialization, CLI, logging, time, regex. */
export const CARGO_DEPENDENCIES: Readonly<Record<string, string>> = {
  tokio: '{ version = "=1.42.0", features = ["full"] }',
  serde: '{ version = "=1.0.217", features = ["derive"] }',
  serde_json: '"=1.0.134"',
  clap: '{ version = "=4.5.23", features = ["derive"] }',
  anyhow: '"=1.0.95"',
  regex: '"=1.11.1"',
  rand: '"=0.8.5"',
  tracing: '"=0.1.41"',
  "tracing-subscriber": '"=0.3.19"',
  chrono: '"=0.4.39"',
  itertools: '"=0.13.0"',
};

export interface CargoFetchResult {
  seconds: number;
  /** Every crate of Cargo.lock as `name@version checksum`, sorted (the project itself left out). */
  tree: string[];
}

/** `registryUrl` undefined means crates.io itself; otherwise the vm server's base URL. */
export async function cargoFetchOnce(
  registryUrl: string | undefined,
  workDir: string,
  signal?: AbortSignal,
): Promise<CargoFetchResult> {
  const home = join(workDir, "cargo-home");
  const project = join(workDir, "project");
  await Deno.mkdir(join(project, "src"), { recursive: true });
  await Deno.mkdir(home, { recursive: true });
  if (registryUrl) {
    await Deno.writeTextFile(join(home, "config.toml"), cargoConfigToml(registryUrl));
  }
  const dependencies = Object.entries(CARGO_DEPENDENCIES).map(([name, spec]) =>
    `${name} = ${spec}`
  );
  await Deno.writeTextFile(
    join(project, "Cargo.toml"),
    ['[package]\nname = "vm-bench"\nversion = "0.1.0"\nedition = "2021"\n', "[dependencies]"]
      .concat(dependencies).join("\n") + "\n",
  );
  await Deno.writeTextFile(join(project, "src", "main.rs"), "fn main() {}\n");
  const started = performance.now();
  const output = await new Deno.Command("cargo", {
    args: ["fetch", "--quiet"],
    cwd: project,
    env: { ...cargoFreeEnv(), CARGO_HOME: home, CARGO_TERM_COLOR: "never" },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal,
  }).output();
  const seconds = (performance.now() - started) / 1000;
  if (!output.success) {
    const stderr = new TextDecoder().decode(output.stderr).trim().split("\n").slice(-10);
    throw new Error(`cargo fetch failed:\n  ${stderr.join("\n  ")}`);
  }
  return { seconds, tree: lockedCrates(await Deno.readTextFile(join(project, "Cargo.lock"))) };
}

/**
 * Name, version and checksum of every registry crate in Cargo.lock. The `source` line is left
 * out: with source replacement cargo still records crates.io, but that is not what proves the
 * bytes are the same; the checksum is.
 */
function lockedCrates(lock: string): string[] {
  return lock.split(/^\[\[package\]\]$/m).slice(1)
    .map((block) => ({
      name: block.match(/^name = "(.+)"$/m)?.[1],
      version: block.match(/^version = "(.+)"$/m)?.[1],
      checksum: block.match(/^checksum = "(.+)"$/m)?.[1],
    }))
    .filter((crate) => crate.checksum !== undefined)
    .map(({ name, version, checksum }) => `${name}@${version} ${checksum}`)
    .sort();
}

/** The cargo version, for the report. */
export async function cargoVersion(): Promise<string> {
  const output = await new Deno.Command("cargo", { args: ["--version"] }).output()
    .catch(() => undefined);
  // "cargo 1.95.0 (f2d3ce0bd 2026-03-21)"
  const version = output?.success ? new TextDecoder().decode(output.stdout).trim() : "";
  return version.replace(/^cargo /, "") || "unknown";
}

/** The environment minus CARGO_* variables (registries, proxies, net settings). */
function cargoFreeEnv(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([name]) => !/^CARGO_/.test(name)),
  );
}
