// `vm init` and `vm config validate` through the real CLI.
import assert from "node:assert/strict";
import { join } from "node:path";
import { selfCommand } from "../../src/daemon/self_command.ts";
import { runVm } from "../support/cli.ts";
import { runProcess, withTempDir } from "../support/process.ts";

/** A one-line `vm: error:` on stderr, nothing on stdout, exit 1. */
function assertOneLineError(result: Awaited<ReturnType<typeof runVm>>, pattern: RegExp): void {
  assert.equal(result.code, 1, result.stderr);
  assert.equal(result.stdout, "");
  assert.match(result.stderr, /^vm: error: [^\n]+\n$/);
  assert.match(result.stderr, pattern);
}

Deno.test("vm init writes a starter once; vm config validate checks it", async () => {
  await withTempDir(async (root) => {
    // The name comes from the directory, made valid.
    const dir = join(root, "My Project");
    await Deno.mkdir(dir);
    const path = join(dir, "vm.yaml");

    const init = await runVm(["init", "--dir", dir]);
    assert.equal(init.code, 0, init.stderr);
    assert.equal(init.stderr, "");
    assert.match(init.stdout, new RegExp(`^vm: wrote ${escape(path)} \\(name: my-project,`));
    assert.match(init.stdout, /then cd '.*My Project' && vm create\n$/);
    const starter = await Deno.readTextFile(path);
    assert.match(starter, /^name: my-project$/m);
    assert.match(starter, /^package_registry: true$/m);

    const again = await runVm(["init", "--dir", dir, "--name", "other"]);
    assertOneLineError(again, /vm\.yaml already exists \(vm init --force overwrites it\)/);
    assert.equal(await Deno.readTextFile(path), starter);

    const forced = await runVm(["init", "--dir", dir, "--name", "other", "--force"]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(await Deno.readTextFile(path), /^name: other$/m);

    const valid = await runVm(["config", "validate", path]);
    assert.equal(valid.code, 0, valid.stderr);
    assert.equal(
      valid.stdout,
      `${path}: valid (name: other, image: vm-base:bookworm, registry: on)\n`,
    );
    // A directory stands for the vm.yaml in it.
    const byDir = await runVm(["config", "validate", dir]);
    assert.equal(
      byDir.stdout,
      `${path}: valid (name: other, image: vm-base:bookworm, registry: on)\n`,
    );

    const json = await runVm(["config", "validate", path, "--json"]);
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout), {
      path,
      name: "other",
      image: "vm-base:bookworm",
      workspace: dir,
      user: "dev",
      ports: [],
      environment: {},
      packageRegistry: true,
      npmPackages: [],
      pipPackages: [],
      cargoPackages: [],
    });

    // An edit gone wrong: the error names the file, the line and the key.
    const edited = starter.replace("ports: []", 'ports: ["3000:3000", "70000"]')
      .replace("package_registry: true", "package_registy: true");
    await Deno.writeTextFile(path, edited);
    const portsLine = edited.split("\n").findIndex((line) => line.startsWith("ports:")) + 1;
    const invalid = await runVm(["config", "validate", path]);
    assertOneLineError(
      invalid,
      new RegExp(
        `^vm: error: ${escape(path)}:${portsLine}: ports\\[1\\]: must be a port number or ` +
          'HOST:CONTAINER\\[/udp\\] \\(got "70000"\\)\\n$',
      ),
    );
    await Deno.writeTextFile(path, edited.replace('"70000"', '"8080"'));
    const registryLine = edited.split("\n").indexOf("package_registy: true") + 1;
    assertOneLineError(
      await runVm(["config", "validate", path]),
      new RegExp(
        `:${registryLine}: unknown key "package_registy" \\(did you mean package_registry\\?\\)`,
      ),
    );
  }, "vm-init-");
});

Deno.test("validate finds vm.yaml upward; init refuses bad names and directories", async () => {
  await withTempDir(async (root) => {
    const sub = join(root, "src", "deep");
    await Deno.mkdir(sub, { recursive: true });
    // runVm has no working directory option; the same command, run from `sub`.
    const inSub = (...args: string[]) => {
      const { command, args: fullArgs } = selfCommand(args);
      return runProcess(command, fullArgs, { cwd: sub });
    };
    const none = await inSub("config", "validate");
    // A stray vm.yaml above the temp dir would be found instead; then there is nothing to test.
    if (none.code === 1) {
      assertOneLineError(none, /no vm\.yaml in .*deep or any directory above it \(vm init writes/);
    }

    assert.equal((await runVm(["init", "--dir", root, "--name", "up"])).code, 0);
    const found = await inSub("config", "validate");
    assert.equal(found.code, 0, found.stderr);
    assert.equal(
      found.stdout,
      "../../vm.yaml: valid (name: up, image: vm-base:bookworm, registry: on)\n",
    );
    await Deno.writeTextFile(join(root, "vm.yaml"), "name: up\nuser: root\n");
    assertOneLineError(
      await inSub("config", "validate"),
      /^vm: error: \.\.\/\.\.\/vm\.yaml:2: user: /,
    );

    assertOneLineError(
      await runVm(["init", "--dir", sub, "--name", "Not Valid"]),
      /invalid project name "Not Valid"/,
    );
    assertOneLineError(
      await runVm(["init", "--dir", join(root, "missing")]),
      /no such directory: .*missing$/m,
    );
    assertOneLineError(
      await runVm(["config", "validate", join(root, "missing.yaml")]),
      /missing\.yaml: no such file \(vm init writes one\)/,
    );
  }, "vm-init-");
});

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
