// Installs that just work in a fresh VM, on the real Docker engine: `pip install` as the VM user
// (Debian's Python refuses it outside a venv), vm.yaml's pip_packages, and `npm install` (with a
// lifecycle script) and `cargo build` in /workspace, for a workspace owned by root on the host and
// for one owned by uid 1000. The VM user takes the workspace owner's uid, so what it creates
// belongs to that owner on the host, and nothing on the host changes owner. Both VMs install
// through the host registry on a network with no outside access.
import assert from "node:assert/strict";
import { join } from "node:path";
import { freePort } from "../support/cli.ts";
import {
  createInternalNetwork,
  dockerTestGate,
  newTestId,
  removeTestObjects,
  vmCli,
} from "../support/docker.ts";
import { withTempDir } from "../support/process.ts";

const { skip, available } = await dockerTestGate("the VM installs test");

const PACKAGE_JSON = JSON.stringify({
  name: "probe",
  version: "1.0.0",
  private: true,
  dependencies: { "is-number": "7.0.0" },
  scripts: {
    // Runs as whoever npm runs lifecycle scripts as (as root: the owner of the project dir).
    postinstall:
      "node -e \"require('fs').writeFileSync('postinstall.txt', String(process.getuid()))\"",
  },
});

const CARGO_TOML = `[package]
name = "probe"
version = "0.1.0"
edition = "2021"

[dependencies]
itoa = "=1.0.11"
`;

const MAIN_RS = 'fn main() { println!("{}", itoa::Buffer::new().format(42)); }\n';

async function ownerOf(path: string): Promise<string> {
  const info = await Deno.stat(path);
  return `${info.uid}:${info.gid}`;
}

Deno.test({
  name: "pip, npm and cargo install as the VM user, for a root-owned and a uid-1000 workspace",
  ignore: skip,
  sanitizeResources: false, // the registry runs as its own background process, stopped below
  async fn() {
    if (!available.ok) throw new Error(`Docker is required here: ${available.reason}`);
    await withTempDir(async (dir) => {
      const id = newTestId();
      const network = `vm-installs-${id}`;
      const env = { VM_PKG_DATA: join(dir, "registry"), VM_PKG_CONFIG: join(dir, "pkg.yaml") };
      const vm = vmCli(env);
      await Deno.writeTextFile(env.VM_PKG_CONFIG, `port: ${freePort()}\n`);
      const workspaces = [
        { name: `root-ws-${id}`, uid: 0, gid: 0 },
        { name: `user-ws-${id}`, uid: 1000, gid: 1000 },
      ].map((w) => ({ ...w, path: join(dir, w.name) }));
      await createInternalNetwork(network, { testId: id });
      try {
        for (const [i, w] of workspaces.entries()) {
          await Deno.mkdir(join(w.path, "src"), { recursive: true });
          await Deno.writeTextFile(
            join(w.path, "vm.yaml"),
            [
              `name: ${w.name}`,
              "package_registry: true",
              `network: ${network}`,
              // vm.yaml's pip_packages go into the VM user's venv (one VM is enough to show it).
              ...(i === 0 ? ["pip_packages: [toml==0.10.2]"] : []),
              "",
            ].join("\n"),
          );
          await Deno.writeTextFile(join(w.path, "package.json"), PACKAGE_JSON);
          await Deno.writeTextFile(join(w.path, "Cargo.toml"), CARGO_TOML);
          await Deno.writeTextFile(join(w.path, "src", "main.rs"), MAIN_RS);
          // A project of that user: the files are theirs too.
          for (const path of ["", "vm.yaml", "package.json", "Cargo.toml", "src", "src/main.rs"]) {
            await Deno.chown(join(w.path, path), w.uid, w.gid);
          }
        }
        // Started the way users start it: in the background, then both VMs use it.
        const started = await vm(dir, ["pkg", "start"]);
        assert.equal(started.code, 0, started.stderr);
        const created = await Promise.all(workspaces.map((w) => vm(w.path, ["create"])));
        for (const [i, result] of created.entries()) {
          assert.equal(result.code, 0, result.stderr);
          console.log(`installs: vm create (${workspaces[i].name}) ${result.ms} ms`);
        }

        await Promise.all(workspaces.map(async (w) => {
          const exec = (script: string) => vm(w.path, ["exec", "--", "bash", "-c", script]);
          const who = await exec('echo "$(id -u):$(id -g) $HOME $(whoami)"');
          assert.equal(
            who.stdout.trim(),
            w.uid === 0 ? "0:0 /root root" : `1000:1000 /home/dev dev`,
            who.stderr,
          );

          const pip = await exec("pip install --disable-pip-version-check six iniconfig==2.0.0");
          assert.equal(pip.code, 0, `${w.name}: pip: ${pip.stderr}`);
          const imported = await exec(
            "python3 -c 'import six, iniconfig; print(iniconfig.__file__)'",
          );
          assert.equal(imported.code, 0, imported.stderr);
          assert.match(imported.stdout, /\/\.venv\/lib\//, "installed into the VM user's venv");
          if (w.uid === 0) {
            const fromYaml = await exec("python3 -c 'import toml; print(toml.__version__)'");
            assert.equal(fromYaml.stdout.trim(), "0.10.2", fromYaml.stderr);
          }

          const npm = await exec("npm install --no-audit --no-fund");
          assert.equal(npm.code, 0, `${w.name}: npm: ${npm.stderr}`);
          const cargo = await exec("cargo build -q && ./target/debug/probe");
          assert.equal(cargo.code, 0, `${w.name}: cargo: ${cargo.stderr}`);
          assert.equal(cargo.stdout.trim(), "42");
          console.log(`installs (${w.name}): npm install ${npm.ms} ms, cargo build ${cargo.ms} ms`);

          // What the VM created belongs on the host to the workspace's owner; the workspace
          // itself keeps its owner.
          const owner = `${w.uid}:${w.gid}`;
          assert.equal(await ownerOf(w.path), owner, "the workspace's owner is unchanged");
          assert.equal(
            (await Deno.readTextFile(join(w.path, "postinstall.txt"))).trim(),
            String(w.uid),
            "the postinstall script ran as the VM user",
          );
          for (const made of ["node_modules", "package-lock.json", "target", "Cargo.lock"]) {
            assert.equal(await ownerOf(join(w.path, made)), owner, made);
          }
        }));
      } finally {
        for (const w of workspaces) await vm(w.path, ["destroy", "--force"]);
        await vm(dir, ["pkg", "stop"]);
        await removeTestObjects(id);
      }
    });
  },
});
