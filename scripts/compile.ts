// The `deno compile` command for `vm`, in one place: the release script builds with it, and
// tests/integration/compile_test.ts runs it and checks that deno.json's `compile` task is this
// same command (a task string cannot import the list). The permissions are the ones `vm` grants
// itself when it re-runs from source, so a compiled `vm` can do exactly what `deno task vm` can.
// They are fixed in the binary: deno compile bakes them in, a compiled program ignores --allow-*
// on its command line, and Deno cannot narrow a granted kind to paths or hosts at run time. So a
// compiled `vm` cannot give its registry server the narrow set that `vm pkg start` gives it from
// source (src/daemon/server_sandbox.ts); its server drops every kind it can once it listens (run,
// ffi, import, env, sys) and keeps read, write and net unscoped, and says so in its log.
import { PERMISSION_FLAGS } from "../src/daemon/self_command.ts";

export const COMPILE_FLAGS: readonly string[] = [...PERMISSION_FLAGS, "--unstable-kv"];

/** Release target names (used in file names) and the Rust triples `deno compile` knows. */
export const TARGETS: Readonly<Record<string, string>> = {
  "linux-x64": "x86_64-unknown-linux-gnu",
  "linux-arm64": "aarch64-unknown-linux-gnu",
  "macos-x64": "x86_64-apple-darwin",
  "macos-arm64": "aarch64-apple-darwin",
};

/** Arguments for `deno`; run them with the repository root as the working directory. */
export function compileArgs(output: string, target?: string): string[] {
  return [
    "compile",
    ...COMPILE_FLAGS,
    ...(target ? ["--target", target] : []),
    "--output",
    output,
    "main.ts",
  ];
}

/** What deno.json's `compile` task must say. */
export const COMPILE_TASK = `deno ${compileArgs("dist/vm").join(" ")}`;

/**
 * `deno task install`: `vm` on PATH from source (Deno's own `deno install -g`, into
 * $DENO_INSTALL_ROOT/bin, ~/.deno/bin by default), with the project's config and the same
 * permissions, so `vm` works from any directory without a compiled binary.
 */
export const INSTALL_TASK = `deno ${
  [
    "install",
    "--global",
    "--force",
    "--name",
    "vm",
    "--config",
    "deno.json",
    ...COMPILE_FLAGS,
    "main.ts",
  ]
    .join(" ")
}`;

/**
 * Why a failed `deno compile --target <target>` could not get its runtime (denort), or null when
 * it failed for another reason (a type error, a missing module...), which callers must report as
 * a failure. `timedOut` covers a download that hangs instead of failing.
 */
export function runtimeUnavailable(
  stderr: string,
  { target = Deno.build.target, timedOut = false } = {},
): string | null {
  // NO_COLOR is not always honoured: escape codes would split the phrases below.
  // deno-lint-ignore no-control-regex
  const text = stderr.replace(/\x1b\[[0-9;]*m/g, "");
  const downloading = /Download\s+https:\/\/dl\.deno\.land\//.test(text);
  const baseBinary =
    /Setting up base binary|Could not find denort|Failed downloading|dl\.deno\.land/i
      .test(text);
  if (!baseBinary && !(timedOut && downloading)) return null;
  const denortBin = Deno.env.get("DENORT_BIN");
  if (denortBin) {
    return `DENORT_BIN=${denortBin} is not a usable denort (${lastCause(text)}); ` +
      `point it at a denort ${Deno.version.deno} binary for ${target}`;
  }
  const why = timedOut ? "the download did not finish" : lastCause(text);
  // DENORT_BIN replaces the runtime of every target, so it can only stand in for the host's.
  const advice = target === Deno.build.target
    ? `set DENORT_BIN to a denort ${Deno.version.deno} binary to build anyway`
    : `build ${target} on a machine that reaches dl.deno.land (DENORT_BIN serves only the ` +
      `host target, ${Deno.build.target})`;
  return `deno compile needs its runtime (denort) from dl.deno.land, which is unreachable ` +
    `here (${why}); ${advice}`;
}

/**
 * A compiled `vm` that prints deno's own version was built from the full deno binary (DENORT_BIN
 * pointed at `deno`, not `denort`): it is plain deno, not `vm`.
 */
export function isPlainDeno(versionOutput: string): boolean {
  return /^deno \d+\.\d+\.\d+/.test(versionOutput.trim());
}

/** The innermost "N: cause" line of an anyhow error chain, else the last non-empty line. */
function lastCause(text: string): string {
  const lines = text.split("\n").map((line) => line.trim()).filter(Boolean)
    .filter((line) => !/^Stack backtrace:|^\d+: <unknown>$/.test(line));
  const causes = lines.filter((line) => /^\d+: /.test(line));
  return (causes.at(-1) ?? lines.at(-1) ?? "no output").replace(/^\d+: /, "");
}
