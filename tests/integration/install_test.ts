// `deno task install` puts a `vm` on PATH that works from any directory, the way the README's
// setup uses it: from a project directory it writes vm.yaml there, and starts, reports and stops
// the registry in the background (which re-runs `vm` itself).
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { INSTALL_TASK } from "../../scripts/compile.ts";
import { VERSION } from "../../src/version.ts";
import { freePort } from "../support/cli.ts";
import { runProcess, withTempDir } from "../support/process.ts";
import denoJson from "../../deno.json" with { type: "json" };

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

Deno.test("deno.json's install task is the one scripts/compile.ts defines", () => {
  assert.equal(denoJson.tasks.install, INSTALL_TASK);
});

Deno.test("deno task install gives a vm that works from any directory", async () => {
  await withTempDir(async (dir) => {
    const installRoot = join(dir, "deno-root");
    const installed = await runProcess(Deno.execPath(), ["task", "install"], {
      cwd: ROOT,
      env: { DENO_INSTALL_ROOT: installRoot, NO_COLOR: "1" },
    });
    assert.equal(installed.code, 0, installed.stderr);
    const project = join(dir, "my-project");
    await Deno.mkdir(project);
    const env = {
      PATH: `${join(installRoot, "bin")}:${Deno.env.get("PATH")}`,
      VM_PKG_DATA: join(dir, "data"),
      VM_PKG_CONFIG: join(dir, "pkg.yaml"),
    };
    // By name, through PATH, from the project directory: what a user types.
    const vm = (...args: string[]) => runProcess("vm", args, { cwd: project, env });

    const version = await vm("--version");
    assert.equal(version.code, 0, version.stderr);
    assert.equal(version.stdout.trim(), VERSION);

    const init = await vm("init", "--name", "my-project");
    assert.equal(init.code, 0, init.stderr);
    assert.ok((await Deno.stat(join(project, "vm.yaml"))).isFile, "vm.yaml in the project");

    const port = freePort();
    const started = await vm("pkg", "start", "--port", String(port), "--no-bridge");
    try {
      assert.equal(started.code, 0, started.stderr);
      const status = await vm("pkg", "status", "--json");
      assert.equal(status.code, 0, status.stderr);
      assert.equal(JSON.parse(status.stdout).url, `http://127.0.0.1:${port}`);
    } finally {
      const stopped = await vm("pkg", "stop");
      assert.equal(stopped.code, 0, stopped.stderr);
    }
  });
});
