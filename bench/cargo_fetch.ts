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

/** `registryUrl` undefined means crates.io itself. */
export async function cargoFetchOnce(
  registryUrl: string | undefined,
  workDir: string,
): Promise<{ seconds: number; crates: number }> {
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
    env: { CARGO_HOME: home, CARGO_TERM_COLOR: "never" },
    stdin: "null",
  }).output();
  const seconds = (performance.now() - started) / 1000;
  if (!output.success) {
    const stderr = new TextDecoder().decode(output.stderr).trim().split("\n").slice(-10);
    throw new Error(`cargo fetch failed:\n  ${stderr.join("\n  ")}`);
  }
  const lock = await Deno.readTextFile(join(project, "Cargo.lock"));
  return { seconds, crates: (lock.match(/^\[\[package\]\]$/gm) ?? []).length - 1 };
}
