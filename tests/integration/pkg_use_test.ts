// `vm pkg use`, `vm pkg exec` and the project configuration `vm pkg start` writes, with the real
// shells and clients: while the registry runs, installs go through it (seen in /-/status); when
// nothing answers on its port, the same commands still work, straight from the public registries.
import assert from "node:assert/strict";
import { join } from "node:path";
import { selfCommand } from "../../src/daemon/self_command.ts";
import { freePort, runVm } from "../support/cli.ts";
import { hasProgram, runProcess } from "../support/process.ts";
import { type TestRegistry, withRegistry } from "../support/registry.ts";
import { writeProjectConfig } from "../../src/clients/project_config.ts";

const shells = {
  bash: await hasProgram("bash"),
  zsh: await hasProgram("zsh"),
  fish: await hasProgram("fish"),
};
const clients = {
  npm: await hasProgram("npm"),
  python: await hasProgram("python3", ["-c", "import venv, ensurepip"]),
  cargo: await hasProgram("cargo"),
};
for (const [name, present] of Object.entries({ ...shells, ...clients })) {
  if (!present) console.warn(`pkg_use_test: skipping what needs ${name}: it is not installed`);
}

/** `vm` as a shell word list, the way a user's PATH would run it. */
function vmWords(): string {
  const { command, args } = selfCommand([]);
  return [command, ...args].map((word) => `'${word.replace(/'/g, `'\\''`)}'`).join(" ");
}

/**
 * The machine's environment (certificates, PATH, pyenv, rustup) without anything that already
 * routes a client (PIP_*, UV_*, npm_config_*, YARN_*, CARGO_*), with npm's user config, the
 * client caches and CARGO_HOME in the sandbox.
 */
async function sandboxEnv(dir: string): Promise<Record<string, string>> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(Deno.env.toObject())) {
    const routes = /^(PIP_|UV_|NPM_CONFIG_|YARN_|CARGO_)/i.test(name) && name !== "PIP_CERT";
    if (!routes) env[name] = value;
  }
  await Deno.writeTextFile(join(dir, "npmrc"), "");
  return {
    ...env,
    CARGO_HOME: join(dir, "cargo-home"),
    CARGO_TARGET_DIR: join(dir, "target"),
    PIP_CONFIG_FILE: "/dev/null",
    PIP_DISABLE_PIP_VERSION_CHECK: "1",
    PIP_NO_CACHE_DIR: "1",
    npm_config_userconfig: join(dir, "npmrc"),
    npm_config_cache: join(dir, "npm-cache"),
    npm_config_audit: "false",
    npm_config_fund: "false",
    npm_config_update_notifier: "false",
  };
}

/** A directory with an npm project, a Python venv and a crate, for the installs below. */
async function projects(dir: string): Promise<void> {
  await Deno.mkdir(join(dir, "js"));
  await Deno.writeTextFile(join(dir, "js", "package.json"), '{"name":"t","version":"1.0.0"}');
  await Deno.mkdir(join(dir, "rs", "src"), { recursive: true });
  await Deno.writeTextFile(
    join(dir, "rs", "Cargo.toml"),
    '[package]\nname = "t"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\nitoa = "1"\n',
  );
  await Deno.writeTextFile(join(dir, "rs", "src", "main.rs"), "fn main() {}\n");
  if (clients.python) {
    const venv = await runProcess("python3", ["-m", "venv", join(dir, "venv")]);
    assert.equal(venv.code, 0, venv.stderr);
  }
}

async function ecosystems(registry: TestRegistry) {
  return (await registry.status()).ecosystems;
}

async function withSandbox(fn: (dir: string, env: Record<string, string>) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "vm-pkg-use-" });
  try {
    await projects(dir);
    await fn(dir, await sandboxEnv(dir));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The commands each check runs in the shell, after `vm pkg use` was evaluated. */
function installCommands(shell: string, full: boolean): string[] {
  const and = shell === "fish" ? "; and " : " && ";
  const lines = [
    `cd js${and}npm install --no-audit is-number@7.0.0${and}cd ..`,
  ];
  if (full && clients.python) {
    lines.push(
      `venv/bin/pip --version >/dev/null${and}PATH="$PWD/venv/bin:$PATH" pip install six==1.16.0`,
    );
  }
  if (full && clients.cargo) lines.push(`cd rs${and}cargo fetch --quiet${and}cd ..`);
  return lines;
}

function script(shell: string, port: number, full: boolean): string {
  const use = `${vmWords()} pkg use --shell ${shell} --port ${port}`;
  const load = shell === "fish" ? `${use} | source` : `eval "$(${use})"`;
  const strict = shell === "fish" ? "" : "set -e";
  // fish has no `set -e`: each command's failure is checked and ends the script.
  const check = shell === "fish" ? "; or exit 1" : "";
  return [strict, load, ...installCommands(shell, full).map((line) => line + check)].join("\n");
}

async function runShell(shell: string, dir: string, env: Record<string, string>, text: string) {
  const file = join(dir, `use.${shell}`);
  await Deno.writeTextFile(file, text);
  const args = shell === "zsh" ? ["-f", file] : shell === "fish" ? ["--no-config", file] : [file];
  return await runProcess(shell, args, { cwd: dir, env, clearEnv: true });
}

for (const shell of ["bash", "zsh", "fish"] as const) {
  // bash runs every client; zsh and fish check the same hook with npm, which is enough to
  // prove their syntax and the health check (the routing itself is shared).
  const full = shell === "bash";
  Deno.test({
    name: `vm pkg use in ${shell}: installs go through the registry while it runs, else public`,
    ignore: !shells[shell] || !clients.npm,
    async fn() {
      await withSandbox(async (dir, env) => {
        await withRegistry({}, async (registry) => {
          const before = await ecosystems(registry);
          const up = await runShell(shell, dir, env, script(shell, registry.port, full));
          assert.equal(up.code, 0, `${up.stdout}\n${up.stderr}`);
          const after = await ecosystems(registry);
          assert.ok(after.npm.requests > before.npm.requests, "npm went through the registry");
          if (full && clients.python) {
            assert.ok(after.pypi.requests > before.pypi.requests, "pip went through the registry");
          }
          if (full && clients.cargo) {
            assert.ok(after.cargo.requests > before.cargo.requests, "cargo went through it");
          }
        });
        // Nothing listens on this port: the same commands go to the public registries.
        await Deno.remove(join(dir, "js", "node_modules"), { recursive: true });
        await Deno.remove(join(dir, "js", "package-lock.json"));
        const down = await runShell(shell, dir, env, script(shell, freePort(), full));
        assert.equal(down.code, 0, `${down.stdout}\n${down.stderr}`);
        const lock = await Deno.readTextFile(join(dir, "js", "package-lock.json"));
        assert.match(lock, /registry\.npmjs\.org\/is-number/);
      });
    },
  });
}

Deno.test({
  name:
    "vm pkg exec routes one command, passes stdio and exit status, and runs it anyway when down",
  ignore: !clients.npm,
  async fn() {
    await withSandbox(async (dir, env) => {
      await withRegistry({}, async (registry) => {
        const exec = (args: string[], cwd = dir, stdin?: string) => {
          const { command, args: full } = selfCommand([
            "pkg",
            "exec",
            "--url",
            registry.url,
            ...args,
          ]);
          return runPiped(command, full, { cwd, env, stdin });
        };
        const before = await ecosystems(registry);
        const npm = await exec(
          ["npm", "install", "--no-audit", "is-number@7.0.0"],
          join(dir, "js"),
        );
        assert.equal(npm.code, 0, npm.stderr);
        assert.ok((await ecosystems(registry)).npm.requests > before.npm.requests);
        assert.match(
          await Deno.readTextFile(join(dir, "js", "package-lock.json")),
          new RegExp(`${registry.url}/npm/is-number`),
        );
        if (clients.cargo) {
          const cargo = await exec(["cargo", "fetch", "--quiet"], join(dir, "rs"));
          assert.equal(cargo.code, 0, cargo.stderr);
          assert.ok((await ecosystems(registry)).cargo.requests > before.cargo.requests);
        }
        const status = await exec(["sh", "-c", 'echo "$npm_config_registry"; exit 7']);
        assert.equal(status.code, 7);
        assert.equal(status.stdout.trim(), `${registry.url}/npm/`);
        const piped = await exec(["cat"], dir, "through stdin\n");
        assert.equal(piped.stdout, "through stdin\n");
        const options = await exec(["sh", "-c", 'echo "$@"', "sh", "--version", "-x"]);
        assert.equal(
          options.stdout.trim(),
          "--version -x",
          "options after the command are its own",
        );
      });
      const port = freePort();
      const { command, args } = selfCommand([
        "pkg",
        "exec",
        "--url",
        `http://127.0.0.1:${port}`,
        "sh",
        "-c",
        'echo "[$npm_config_registry]"',
      ]);
      const down = await runPiped(command, args, { cwd: dir, env });
      assert.equal(down.code, 0);
      assert.equal(down.stdout.trim(), "[]", "unchanged when the registry is down");
      assert.equal(
        down.stderr.trim(),
        `vm pkg: no registry answers at http://127.0.0.1:${port}; running sh unchanged`,
      );
      const missing = await runVm([
        "pkg",
        "exec",
        "--url",
        `http://127.0.0.1:${port}`,
        "no-such-cmd",
      ]);
      assert.equal(missing.code, 127);
      assert.match(missing.stderr, /vm: error: command not found: no-such-cmd/);
    });
  },
});

Deno.test({
  name:
    "vm pkg start writes the project's client config (npm then installs through it); stop removes it",
  ignore: !clients.npm,
  async fn() {
    await withSandbox(async (dir, env) => {
      const project = join(dir, "js");
      await Deno.writeTextFile(join(project, ".npmrc"), "save-exact=true\n");
      await Deno.writeTextFile(
        join(project, "pyproject.toml"),
        '[project]\nname = "t"\n\n[tool.uv]\n',
      );
      const data = join(dir, "data");
      const port = freePort();
      const vm = (args: string[], cwd = project) => {
        const { command, args: full } = selfCommand([...args, "--data", data]);
        return runPiped(command, full, { cwd, env });
      };
      const started = await vm(["pkg", "start", "--port", String(port)]);
      try {
        assert.equal(started.code, 0, started.stderr);
        assert.match(started.stdout, /project: wrote \.npmrc/);
        assert.match(started.stdout, /left uv\.toml alone: pyproject\.toml has \[tool\.uv\]/);
        const npmrc = await Deno.readTextFile(join(project, ".npmrc"));
        assert.match(npmrc, /^save-exact=true\n/);
        assert.match(npmrc, new RegExp(`registry=http://127\\.0\\.0\\.1:${port}/npm/`));

        const install = await runPiped("npm", ["install", "--no-audit", "is-number@7.0.0"], {
          cwd: project,
          env,
        });
        assert.equal(install.code, 0, install.stderr);
        const status = await vm(["pkg", "status", "--json"]);
        assert.ok(JSON.parse(status.stdout).ecosystems.npm.requests > 0);
      } finally {
        const stopped = await vm(["pkg", "stop"]);
        assert.equal(stopped.code, 0, stopped.stderr);
        assert.match(stopped.stdout, /project config removed from: /);
      }
      assert.equal(await Deno.readTextFile(join(project, ".npmrc")), "save-exact=true\n");
      await assert.rejects(Deno.stat(join(project, "uv.toml")), Deno.errors.NotFound);

      // --no-config writes nothing at all.
      const rust = join(dir, "rs");
      const quiet = await vm(["pkg", "start", "--port", String(freePort()), "--no-config"], rust);
      try {
        assert.equal(quiet.code, 0, quiet.stderr);
        assert.doesNotMatch(quiet.stdout, /project:/);
        await assert.rejects(Deno.stat(join(rust, ".cargo")), Deno.errors.NotFound);
      } finally {
        await vm(["pkg", "stop"], rust);
      }
    });
  },
});

Deno.test("project config never touches the home directory's (user-global) files", async () => {
  const home = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(join(home, "package.json"), "{}");
    const changes = await writeProjectConfig(home, "http://127.0.0.1:3080", home);
    assert.equal(changes[0].action, "skipped");
    await assert.rejects(Deno.stat(join(home, ".npmrc")), Deno.errors.NotFound);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

async function runPiped(
  command: string,
  args: string[],
  options: { cwd: string; env: Record<string, string>; stdin?: string },
) {
  const child = new Deno.Command(command, {
    args,
    cwd: options.cwd,
    env: options.env,
    clearEnv: true,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const output = await child.output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}
