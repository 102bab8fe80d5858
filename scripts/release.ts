// Builds the release binaries: one `vm` per target with the compile task's flags, named
// vm-<version>-<target>, plus SHA256SUMS in `sha256sum -c` format.
//
//   deno run -A scripts/release.ts [--targets linux-x64,linux-arm64,macos-x64,macos-arm64]
//                                  [--out dist/release]
//
// `deno compile` downloads each target's runtime (denort) from dl.deno.land. DENORT_BIN replaces
// that download for EVERY target, so with it set only the host target is built: a cross build
// would silently embed the host's runtime.
import { createHash } from "node:crypto";
import { basename, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { VERSION } from "../src/version.ts";
import { compileArgs, isPlainDeno, runtimeUnavailable, TARGETS } from "./compile.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

class ReleaseError extends Error {}

export interface ReleaseOptions {
  targets: string[];
  outDir: string;
}

export function parseReleaseArgs(args: string[]): ReleaseOptions {
  const { values } = parseArgs({
    args,
    options: { targets: { type: "string" }, out: { type: "string" } },
    strict: true,
  });
  const targets = (values.targets ?? Object.keys(TARGETS).join(",")).split(",")
    .map((name) => name.trim()).filter(Boolean);
  for (const name of targets) {
    if (!(name in TARGETS)) {
      throw new ReleaseError(
        `unknown target '${name}' (choose from ${Object.keys(TARGETS).join(", ")})`,
      );
    }
  }
  if (targets.length === 0) throw new ReleaseError("--targets is empty");
  return { targets: [...new Set(targets)], outDir: resolve(values.out ?? "dist/release") };
}

/** Compiles every target into outDir and writes SHA256SUMS; returns the binaries' paths. */
export async function release({ targets, outDir }: ReleaseOptions): Promise<string[]> {
  const denortBin = Deno.env.get("DENORT_BIN");
  const host = Object.keys(TARGETS).find((name) => TARGETS[name] === Deno.build.target);
  const foreign = targets.filter((name) => name !== host);
  if (denortBin && foreign.length > 0) {
    throw new ReleaseError(
      `DENORT_BIN is set, and deno compile would embed that one runtime in every target: ` +
        `build only the host target (--targets ${host ?? Deno.build.target}) or unset ` +
        `DENORT_BIN on a machine that reaches dl.deno.land`,
    );
  }
  await Deno.mkdir(outDir, { recursive: true });
  const built: string[] = [];
  for (const name of targets) {
    const output = join(outDir, `vm-${VERSION}-${name}`);
    await compile(output, TARGETS[name]);
    if (name === host) {
      // Never leave a binary that is not `vm` where the upload step would pick it up.
      await checkRuns(output).catch(async (error) => {
        await Deno.remove(output);
        throw error;
      });
    }
    built.push(output);
    console.log(`built ${output}`);
  }
  const sums = await Promise.all(
    built.map(async (path) => `${await sha256(path)}  ${basename(path)}`),
  );
  await Deno.writeTextFile(join(outDir, "SHA256SUMS"), sums.join("\n") + "\n");
  console.log(`wrote ${join(outDir, "SHA256SUMS")}`);
  return built;
}

async function compile(output: string, target: string): Promise<void> {
  const result = await new Deno.Command(Deno.execPath(), {
    args: compileArgs(output, target),
    cwd: ROOT,
    env: { NO_COLOR: "1" }, // plain text for the error message
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (result.success) return;
  const stderr = new TextDecoder().decode(result.stderr);
  const runtime = runtimeUnavailable(stderr, { target });
  if (runtime) throw new ReleaseError(`${target}: ${runtime}`);
  // Anything else (a type error...) is the compiler's to explain: pass its output on whole.
  throw new ReleaseError(`deno compile for ${target} failed:\n${stderr.trim()}`);
}

/** The host binary can be run: make sure it is `vm`, not plain deno from a wrong DENORT_BIN. */
async function checkRuns(binary: string): Promise<void> {
  const result = await new Deno.Command(binary, { args: ["--version"], stdin: "null" }).output();
  const printed = new TextDecoder().decode(result.stdout).trim();
  if (isPlainDeno(printed)) {
    throw new ReleaseError(
      `${binary} is plain deno: DENORT_BIN must point at a denort binary, not the full deno`,
    );
  }
  if (!result.success || printed !== VERSION) {
    throw new ReleaseError(`${binary} --version printed '${printed}', expected ${VERSION}`);
  }
}

async function sha256(path: string): Promise<string> {
  // Streamed: the binaries are ~100 MB each.
  const hash = createHash("sha256");
  using file = await Deno.open(path);
  for await (const chunk of file.readable) hash.update(chunk);
  return hash.digest("hex");
}

if (import.meta.main) {
  try {
    await release(parseReleaseArgs(Deno.args));
  } catch (error) {
    // Our own errors and bad arguments are one line; anything else keeps its stack.
    const known = error instanceof ReleaseError ||
      String((error as { code?: unknown }).code).startsWith("ERR_PARSE_ARGS");
    const message = known ? (error as Error).message : (error as Error).stack ?? String(error);
    console.error(`release: error: ${message}`);
    Deno.exit(1);
  }
}
