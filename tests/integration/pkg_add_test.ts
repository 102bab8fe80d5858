// `vm pkg add | list | remove | claim | token` as a user runs them: the real `vm` CLI builds a
// project with the ecosystem's own tool and publishes it to the real server; the native client
// then installs it back in a fresh environment.
import assert from "node:assert/strict";
import { withTempDir } from "../support/process.ts";
import { join } from "node:path";
import { freePort, runVm } from "../support/cli.ts";
import { hasNpm, makeProject, runNpm } from "../support/npm_client.ts";
import { cargoHome, consumerRun, hasCargo, writeCrate } from "../support/cargo_client.ts";
import { type TestRegistry, withRegistry } from "../support/registry.ts";
import {
  hasPython,
  makeVenv,
  pipInstall,
  run,
  writeDemoProject,
} from "../support/python_clients.ts";

const npmMissing = !(await hasNpm());
const cargoMissing = !(await hasCargo());
const pythonMissing = !(await hasPython());
if (pythonMissing) console.warn("skipping vm pkg add tests for pip: python3 with venv is missing");
if (npmMissing) console.warn("skipping vm pkg add tests for npm: npm is not installed");
if (cargoMissing) console.warn("skipping vm pkg add tests for cargo: cargo is not installed");

const suffix = crypto.randomUUID().slice(0, 8);

function vm(registry: TestRegistry, args: string[], env: Record<string, string> = {}) {
  return runVm([...args, "--server", registry.url, "--data", registry.dataDir], env);
}

Deno.test({
  name: "vm pkg add publishes an npm project; npm installs it back; list and remove",
  ignore: npmMissing,
  async fn() {
    await withTempDir(async (dir) => {
      await withRegistry({}, async (registry) => {
        const name = `vm-add-test-${suffix}`;
        const project = join(dir, "lib");
        await Deno.mkdir(project);
        await Deno.writeTextFile(
          join(project, "package.json"),
          JSON.stringify({ name, version: "1.0.0", main: "index.js", license: "MIT" }),
        );
        await Deno.writeTextFile(
          join(project, "index.js"),
          'module.exports = "from vm pkg add";\n',
        );

        const added = await vm(registry, ["pkg", "add", "--dir", project]);
        assert.equal(added.code, 0, added.stderr);
        assert.match(added.stdout, new RegExp(`published npm ${name} 1\\.0\\.0`));
        const again = await vm(registry, ["pkg", "add", "--dir", project]);
        assert.equal(again.code, 1);
        assert.match(
          again.stderr,
          /\nvm: error: .* 1\.0\.0 is already published \(bump the version\)\n$/,
        );

        const consumer = await makeProject({ [name]: "1.0.0" });
        try {
          const install = await runNpm(["install", "--no-audit"], {
            cwd: consumer,
            registry: `${registry.npmUrl}/`,
            cache: join(consumer, ".npm-cache"),
          });
          assert.equal(install.code, 0, install.stderr);
          const out = await new Deno.Command("node", {
            args: ["-e", `console.log(require("${name}"))`],
            cwd: consumer,
            stdout: "piped",
          }).output();
          assert.equal(new TextDecoder().decode(out.stdout).trim(), "from vm pkg add");
        } finally {
          await Deno.remove(consumer, { recursive: true });
        }

        const list = await vm(registry, ["pkg", "list", "--json"]);
        assert.equal(list.code, 0, list.stderr);
        const listed = JSON.parse(list.stdout);
        assert.deepEqual(listed.map((p: { name: string }) => p.name), [name]);
        assert.equal(listed[0].versions[0].version, "1.0.0");

        // Without a terminal, removing needs --force.
        const refused = await vm(registry, ["pkg", "remove", name, "--version", "1.0.0"]);
        assert.equal(refused.code, 1);
        assert.match(refused.stderr, /refusing without confirmation \(pass --force\)/);
        const removed = await vm(registry, [
          "pkg",
          "remove",
          name,
          "--version",
          "1.0.0",
          "--force",
        ]);
        assert.equal(removed.code, 0, removed.stderr);
        assert.match(removed.stdout, /stays private/);
        const gone = await fetch(`${registry.npmUrl}/${name}`);
        await gone.body?.cancel();
        assert.equal(gone.status, 404);
      });
    });
  },
});

Deno.test({
  name:
    "vm pkg add publishes a cargo project; cargo builds a consumer of it; remove --force deletes",
  ignore: cargoMissing,
  async fn() {
    await withTempDir(async (dir) => {
      await withRegistry({}, async (registry) => {
        const crate = `vm-add-crate-${suffix}`;
        const project = await writeCrate(join(dir, "lib"), [
          "[package]",
          `name = "${crate}"`,
          'version = "0.1.0"',
          'edition = "2021"',
          'description = "published by vm pkg add"',
          'license = "MIT"',
          "",
          "[dependencies]",
          'itoa = "1"',
        ], {
          path: "src/lib.rs",
          text: "pub fn answer() -> String { itoa::Buffer::new().format(42).to_owned() }\n",
        });
        // cargo package resolves dependencies through the crates.io replacement, like a VM would.
        const env = {
          CARGO_HOME: await cargoHome(dir, "publisher-home", registry.url),
          CARGO_TARGET_DIR: join(dir, "publisher-target"),
        };
        const added = await vm(registry, ["pkg", "add", "--dir", project], env);
        assert.equal(added.code, 0, added.stderr);
        assert.match(added.stdout, new RegExp(`published cargo ${crate} 0\\.1\\.0`));

        const answer = await consumerRun(
          dir,
          registry,
          `${crate} = "0.1"`,
          `fn main() { println!("{}", ${crate.replaceAll("-", "_")}::answer()); }\n`,
        );
        assert.equal(answer, "42");

        const yank = await vm(registry, ["pkg", "remove", crate, "--version", "0.1.0", "-f"]);
        assert.equal(yank.code, 0, yank.stderr);
        const list = JSON.parse(
          (await vm(registry, ["pkg", "list", "--type", "cargo", "--json"])).stdout,
        );
        assert.equal(list[0].versions.length, 0, "--force deletes rather than yanks");
      });
    });
  },
});

Deno.test({
  name: "vm pkg add publishes a Python project; pip installs it back in a fresh venv",
  ignore: pythonMissing,
  async fn() {
    await withTempDir(async (dir) => {
      await withRegistry({}, async (registry) => {
        const demo = { name: `vm-add-py-${suffix}`, version: "0.2.0", module: "vm_add_py_demo" };
        const project = join(dir, "project");
        await writeDemoProject(project, demo);
        // The build uses the machine's own python and pip configuration, as a user's would.
        const added = await vm(registry, ["pkg", "add", "--dir", project, "--json"]);
        assert.equal(added.code, 0, added.stderr);
        const published = JSON.parse(added.stdout);
        assert.equal(published.type, "pypi");
        assert.equal(published.name, demo.name);
        assert.ok(published.files.some((f: { filename: string }) => f.filename.endsWith(".whl")));

        const python = await makeVenv(join(dir, "venv"));
        const install = await pipInstall(python, `${registry.url}/pypi/simple/`, [demo.name]);
        assert.equal(install.code, 0, install.stderr);
        const imported = await run(python, [
          "-c",
          `import ${demo.module}; print(${demo.module}.__version__)`,
        ]);
        assert.equal(imported.stdout.trim(), "0.2.0");
      });
    });
  },
});

Deno.test("vm pkg add, remove and claim fail with one clear line", async () => {
  await withTempDir(async (dir) => {
    await withRegistry({}, async (registry) => {
      const empty = join(dir, "empty");
      await Deno.mkdir(empty);
      const nothing = await vm(registry, ["pkg", "add", "--dir", empty]);
      assert.equal(nothing.code, 1);
      assert.match(
        nothing.stderr,
        /^vm: error: nothing publishable in .*empty \(looked for package\.json/,
      );

      const both = join(dir, "both");
      await Deno.mkdir(both);
      await Deno.writeTextFile(join(both, "package.json"), '{"name":"x","version":"1.0.0"}');
      await Deno.writeTextFile(join(both, "Cargo.toml"), '[package]\nname = "x"\n');
      const ambiguous = await vm(registry, ["pkg", "add", "--dir", both]);
      assert.equal(ambiguous.code, 1);
      assert.match(ambiguous.stderr, /holds npm and cargo packages: choose one with --type/);

      const broken = join(dir, "broken");
      await Deno.mkdir(broken);
      await Deno.writeTextFile(join(broken, "package.json"), '{"name": "broken", "version": ');
      const failed = await vm(registry, ["pkg", "add", "--dir", broken]);
      assert.equal(failed.code, 1);
      // Progress lines, then exactly one error line.
      assert.match(failed.stderr, /\nvm: error: package\.json cannot be read: .*\n$/);
      assert.equal(failed.stderr.split("\n").filter((l) => l.startsWith("vm: error")).length, 1);

      const down = await runVm([
        "pkg",
        "add",
        "--dir",
        both,
        "--type",
        "npm",
        "--server",
        `http://127.0.0.1:${freePort()}`,
        "--data",
        registry.dataDir,
      ]);
      assert.equal(down.code, 1);
      assert.match(
        down.stderr,
        /^vm: error: no registry answers at http:\/\/127\.0\.0\.1:\d+ \(connection refused\)/,
      );

      const wrongToken = await vm(registry, ["pkg", "claim", "left-pad", "--type", "npm"], {
        VM_PKG_TOKEN: "vmpkg_wrong",
      });
      assert.equal(wrongToken.code, 1);
      assert.match(wrongToken.stderr, /the write token is wrong/);
      const claimed = await vm(registry, ["pkg", "claim", "left-pad", "--type", "npm"]);
      assert.equal(claimed.code, 0, claimed.stderr);

      const unknown = await vm(registry, ["pkg", "remove", "no-such-package", "--force"]);
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /no private package named no-such-package/);

      const token = await runVm(["pkg", "token", "--data", registry.dataDir]);
      assert.equal(token.stdout.trim(), registry.token);
      const mode = (await Deno.stat(join(registry.dataDir, "token"))).mode! & 0o777;
      assert.equal(mode, 0o600);
    });
  });
});
