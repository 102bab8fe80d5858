// The single `vm` executable for real: `deno compile` with the compile task's flags, then the
// binary answers --version and --help and runs the registry in the background by re-running
// itself. `deno compile` needs its runtime (denort) from dl.deno.land or DENORT_BIN; without one
// the test is skipped with the reason, and any other compile failure fails it.
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  COMPILE_TASK,
  compileArgs,
  isPlainDeno,
  runtimeUnavailable,
} from "../../scripts/compile.ts";
import { VERSION } from "../../src/version.ts";
import { freePort } from "../support/cli.ts";
import { runProcess } from "../support/process.ts";
import denoJson from "../../deno.json" with { type: "json" };

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const COMPILE_TIMEOUT_MS = 120_000;

/** The compiled binary, or why the test fails (compile error) or is skipped (no runtime). */
type Probe =
  | { binary: string; dir: string }
  | { failure: string; dir: string }
  | { skip: string };

/** Compiles `vm` once at load: whether the test runs depends on it. */
async function compileVm(): Promise<Probe> {
  const dir = await Deno.makeTempDir({ prefix: "vm-compile-" });
  const binary = join(dir, "vm");
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), COMPILE_TIMEOUT_MS);
  let result: Deno.CommandOutput;
  try {
    result = await new Deno.Command(Deno.execPath(), {
      args: compileArgs(binary),
      cwd: ROOT,
      env: { NO_COLOR: "1" }, // plain text for the failure message
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: abort.signal,
    }).output();
  } finally {
    clearTimeout(timer);
  }
  const stderr = new TextDecoder().decode(result.stderr);
  const timedOut = abort.signal.aborted;
  const reason = result.success
    ? await plainDenoReason(binary)
    : runtimeUnavailable(stderr, { timedOut });
  if (reason) {
    await Deno.remove(dir, { recursive: true });
    return { skip: reason };
  }
  if (result.success) return { binary, dir };
  const why = timedOut
    ? `did not finish in ${COMPILE_TIMEOUT_MS / 1000} s`
    : `exited ${result.code}`;
  return { failure: `deno ${compileArgs(binary).join(" ")} ${why}:\n${stderr}`, dir };
}

/** A binary built from the full deno (DENORT_BIN=deno) is plain deno: nothing to test. */
async function plainDenoReason(binary: string): Promise<string | null> {
  const { stdout } = await runProcess(binary, ["--version"]);
  return isPlainDeno(stdout)
    ? `DENORT_BIN=${Deno.env.get("DENORT_BIN")} is the full deno, ` +
      `not denort, so the compiled binary is plain deno; set DENORT_BIN to a denort binary`
    : null;
}

const probe = await compileVm();
if ("skip" in probe) console.warn(`skipping compile test: ${probe.skip}`);
if ("dir" in probe) {
  // Backstop for runs that load this file but filter the test out: the binary is ~100 MB.
  const { dir } = probe;
  globalThis.addEventListener("unload", () => {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch { /* already removed by the test */ }
  });
}

Deno.test("deno.json's compile task is the command scripts/compile.ts builds", () => {
  // The task is a string and cannot import the flag list, so this keeps the two in step.
  assert.equal(denoJson.tasks.compile, COMPILE_TASK);
  assert.equal(denoJson.tasks.release, "deno run -A scripts/release.ts");
});

Deno.test({
  name: "the compiled vm: --version, --help, and pkg start/status/stop from the binary",
  ignore: "skip" in probe,
  async fn() {
    if ("skip" in probe) return;
    const dataDir = await Deno.makeTempDir({ prefix: "vm-compile-data-" });
    const port = freePort();
    try {
      if ("failure" in probe) assert.fail(probe.failure);
      const { binary } = probe;
      const version = await runProcess(binary, ["--version"]);
      assert.equal(version.code, 0, version.stderr);
      assert.equal(version.stdout.trim(), VERSION);
      const help = await runProcess(binary, ["--help"]);
      assert.equal(help.code, 0, help.stderr);
      assert.match(help.stdout, /pkg\s+the package registry/);

      // Nothing next to the binary: run it from an empty directory, away from the source tree.
      const cwd = dataDir;
      const data = ["--data", dataDir];
      const started = await runProcess(binary, ["pkg", "start", "--port", `${port}`, ...data], {
        cwd,
      });
      assert.equal(started.code, 0, started.stderr);
      const json = await runProcess(binary, ["pkg", "status", "--json", ...data], { cwd });
      assert.equal(json.code, 0, json.stderr);
      const status = JSON.parse(json.stdout);
      assert.equal(status.running, true);
      assert.equal(status.url, `http://127.0.0.1:${port}`);
      const health = await fetch(`http://127.0.0.1:${port}/-/health`).then((r) => r.json());
      assert.ok(health.ok);
      assert.equal(health.pid, status.pid);
      if (Deno.build.os === "linux") {
        // The background server re-ran the binary itself, not deno with main.ts.
        assert.equal(await Deno.readLink(`/proc/${health.pid}/exe`), await Deno.realPath(binary));
      }
      // Its permissions are the compiled-in ones: the server drops the kinds it can once it
      // listens, and says that read, write and net stay unscoped (scripts/compile.ts).
      assert.match(
        await Deno.readTextFile(join(dataDir, "server.log")),
        /permissions: no run, ffi, import, env, sys; read, write, net NOT narrowed \(a compiled vm/,
      );
      const stopped = await runProcess(binary, ["pkg", "stop", ...data], { cwd });
      assert.equal(stopped.code, 0, stopped.stderr);
      const after = await runProcess(binary, ["pkg", "status", "--json", ...data], { cwd });
      assert.equal(after.code, 3);
      assert.equal(JSON.parse(after.stdout).running, false);
    } finally {
      if ("binary" in probe) await runProcess(probe.binary, ["pkg", "stop", "--data", dataDir]);
      await Deno.remove(dataDir, { recursive: true });
      await Deno.remove(probe.dir, { recursive: true });
    }
  },
});
