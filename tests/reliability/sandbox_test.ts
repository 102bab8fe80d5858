// Deno's sandbox as the second wall (issue 14): the registry server, started the way users start
// it (`vm pkg start` in the background, `vm pkg start --docker`), holds only its data dir, its
// config file, its listen addresses and the configured upstream hosts, and no --allow-run. Proved
// from outside: the flags on the running process's own command line, then the effect of exactly
// those flags (a `deno run` with them tries what a slip in the server could: `file:` URLs, other
// loopback services, files beside the data dir, programs), and a real request whose upstream
// redirects to a service that is not an upstream. The real npm, pip and cargo still install
// through the narrowed server.
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, runVm } from "../support/cli.ts";
import { hasCargo, runCargo, writeCrate } from "../support/cargo_client.ts";
import { hasNpm, runNpm } from "../support/npm_client.ts";
import { hasPython, makeVenv, pipInstall } from "../support/python_clients.ts";
import { runProcess, withTempDir } from "../support/process.ts";
import { docker, dockerTestGate } from "../support/docker.ts";
import { cargoConfigToml } from "../../src/registry/cargo/client_config.ts";
import { selfCommand } from "../../src/daemon/self_command.ts";

/** `vm` with its data dir and config file in `dir`, as a user's shell would run it. */
function vmIn(dir: string) {
  const env = { VM_PKG_DATA: join(dir, "data"), VM_PKG_CONFIG: join(dir, "pkg.yaml") };
  return async (...args: string[]) => {
    const result = await runVm(args, env);
    assert.equal(result.code, 0, `vm ${args.join(" ")}: ${result.stderr}`);
    return result.stdout;
  };
}

/** The running server's command line, as the kernel has it. */
async function commandLine(url: string): Promise<string[]> {
  const { pid } = await (await fetch(`${url}/-/health`)).json();
  const raw = await Deno.readTextFile(`/proc/${pid}/cmdline`);
  return raw.split("\0").filter(Boolean);
}

/** The permission flags among `args`, and each scoped one's list (undefined: unscoped). */
function permissions(args: string[]) {
  const flags = args.filter((arg) => /^(-A$|--allow-|--deny-|--ignore-env|--no-prompt$)/.test(arg));
  const scope = (name: string): string[] | undefined | null => {
    const flag = flags.find((arg) =>
      arg === `--allow-${name}` || arg.startsWith(`--allow-${name}=`)
    );
    if (flag === undefined) return null; // not granted at all
    const eq = flag.indexOf("=");
    return eq < 0 ? undefined : flag.slice(eq + 1).split(",");
  };
  return { flags, scope };
}

/** Loopback stand-ins: the configured upstream, and a service that is not one (counts hits). */
function standIns() {
  let foreignHits = 0;
  const foreign = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    foreignHits++;
    return new Response("the secret of another service\n");
  });
  const foreignUrl = `http://127.0.0.1:${foreign.addr.port}`;
  const upstream = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const { pathname } = new URL(request.url);
    if (pathname === "/ok") return new Response("upstream ok");
    // A hostile (or compromised) upstream sends the server somewhere else.
    if (pathname.endsWith("/redirected")) {
      return new Response(null, { status: 302, headers: { location: `${foreignUrl}/steal` } });
    }
    return new Response("not found", { status: 404 });
  });
  return {
    upstreamUrl: `http://127.0.0.1:${upstream.addr.port}`,
    upstreamHost: `127.0.0.1:${upstream.addr.port}`,
    foreignUrl,
    foreignHits: () => foreignHits,
    close: async () => {
      await upstream.shutdown();
      await foreign.shutdown();
    },
  };
}

/** What a slip in the server could try, run by deno with exactly `flags`; each: "ok" or the error. */
async function tryEverything(
  flags: string[],
  paths: { dir: string; data: string; config: string },
  urls: { upstream: string; foreign: string },
): Promise<Record<string, string>> {
  const script = join(paths.dir, "attempts.ts");
  await Deno.writeTextFile(
    script,
    `
const [data, config, beside, upstream, foreign] = Deno.args;
const results: Record<string, string> = {};
async function attempt(name: string, action: () => unknown) {
  try {
    const value = await action();
    results[name] = value === undefined ? "ok" : String(value);
  } catch (error) {
    results[name] = (error as Error).name;
  }
}
await attempt("read the token in the data dir", () => { Deno.readTextFileSync(data + "/token"); });
await attempt("write in the data dir", () => { Deno.writeTextFileSync(data + "/probe", "x"); Deno.removeSync(data + "/probe"); });
await attempt("read the config file", () => { Deno.readTextFileSync(config); });
await attempt("read a file beside the data dir", () => { Deno.readTextFileSync(beside); });
await attempt("read /etc/passwd", () => { Deno.readTextFileSync("/etc/passwd"); });
await attempt("write beside the data dir", () => { Deno.writeTextFileSync(beside + ".new", "x"); });
await attempt("fetch file:///etc/passwd", async () => { await (await fetch("file:///etc/passwd")).text(); });
await attempt("fetch file: beside the data dir", async () => { await (await fetch("file://" + beside)).text(); });
await attempt("fetch the configured upstream", async () => (await fetch(upstream + "/ok")).text());
await attempt("fetch another loopback service", async () => { await (await fetch(foreign + "/steal")).text(); });
await attempt("follow the upstream's redirect elsewhere", async () => { await (await fetch(upstream + "/npm/redirected")).text(); });
await attempt("run a program", async () => { await new Deno.Command("true").output(); });
await attempt("read PATH", () => { Deno.env.get("PATH"); });
console.log(JSON.stringify(results));
`,
  );
  const beside = join(paths.dir, "secret.txt");
  await Deno.writeTextFile(beside, "not the registry's\n");
  const result = await runProcess(Deno.execPath(), [
    "run",
    "--quiet",
    ...flags,
    script,
    paths.data,
    paths.config,
    beside,
    urls.upstream,
    urls.foreign,
  ]);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout);
}

const DENIED = "NotCapable";
/** The server's command line is read from /proc. */
const PROC = Deno.build.os === "linux";

Deno.test({
  name: "the background server holds only its data dir, config, listen addresses and upstreams",
  ignore: !PROC,
  async fn() {
    await withTempDir(async (dir) => {
      const vm = vmIn(dir);
      const stand = standIns();
      const port = freePort();
      const url = `http://127.0.0.1:${port}`;
      const data = join(dir, "data");
      const config = join(dir, "pkg.yaml");
      await Deno.writeTextFile(
        config,
        [
          `port: ${port}`,
          `npm_upstream: ${stand.upstreamUrl}/npm`,
          `pypi_upstream: ${stand.upstreamUrl}/pypi/simple`,
          `pypi_files_upstream: ${stand.upstreamUrl}/files`,
          `cargo_upstream: ${stand.upstreamUrl}/cargo`,
          `cargo_files_upstream: ${stand.upstreamUrl}/crates`,
          `go_upstream: ${stand.upstreamUrl}/go`,
          "",
        ].join("\n"),
      );
      try {
        await vm("pkg", "start", "--no-config");
        const args = await commandLine(url);
        const { flags, scope } = permissions(args);

        // The effect first: exactly the server's flags, trying what a slip could try.
        const results = await tryEverything(flags, { dir, data, config }, {
          upstream: stand.upstreamUrl,
          foreign: stand.foreignUrl,
        });
        assert.deepEqual(results, {
          "read the token in the data dir": "ok",
          "write in the data dir": "ok",
          "read the config file": "ok",
          "read a file beside the data dir": DENIED,
          "read /etc/passwd": DENIED,
          "write beside the data dir": DENIED,
          "fetch file:///etc/passwd": DENIED,
          "fetch file: beside the data dir": DENIED,
          "fetch the configured upstream": "upstream ok",
          "fetch another loopback service": DENIED,
          "follow the upstream's redirect elsewhere": DENIED,
          "run a program": DENIED,
          "read PATH": DENIED,
        }, `the server's flags: ${flags.join(" ")}`);

        // A real request: the upstream redirects the packument to the other service. Whatever
        // the code does with the redirect, the other service is never reached.
        const response = await fetch(`${url}/npm/redirected`);
        await response.body?.cancel();
        assert.notEqual(response.status, 200);
        assert.equal(stand.foreignHits(), 0, "the other loopback service was reached");

        // The flags themselves, as the kernel shows them.
        assert.equal(scope("run"), null, `no --allow-run: ${flags.join(" ")}`);
        assert.equal(scope("ffi"), null);
        assert.ok(!flags.includes("-A") && scope("all") === null, flags.join(" "));
        assert.deepEqual(scope("read")?.sort(), [data, config].sort());
        assert.deepEqual(scope("write"), [data]);
        const listen = JSON.parse(await Deno.readTextFile(join(data, "server.json")))
          .addresses as string[];
        assert.deepEqual(
          scope("net")?.sort(),
          [...listen.map((address) => `${address}:${port}`), stand.upstreamHost].sort(),
        );
        const env = scope("env");
        assert.ok(env && !env.includes("PATH"), `env: ${env}`);
        // Only the Docker bridge lookup, and only when there is a bridge to look up.
        assert.ok([null, ["networkInterfaces"]].some((s) => String(s) === String(scope("sys"))));
        assert.ok(flags.includes("--no-prompt"));
        const log = await Deno.readTextFile(join(data, "server.log"));
        assert.match(log, /permissions: read and write .*data dir/);
      } finally {
        await vm("pkg", "stop");
        await stand.close();
      }
    });
  },
});

Deno.test("run by hand with every permission, the server drops what it does not use once it listens", async () => {
  // What the server does after it listens (dropPermissionsAfterStart), in a process that holds
  // everything: programs, environment, system information and remote imports are gone; read,
  // write and net cannot be narrowed at run time, and it says so.
  await withTempDir(async (dir) => {
    const root = fileURLToPath(new URL("../../", import.meta.url));
    const script = join(dir, "drop.ts");
    const module = new URL("../../src/daemon/server_sandbox.ts", import.meta.url).href;
    await Deno.writeTextFile(
      script,
      `
import { dropPermissionsAfterStart } from "${module}";
const line = await dropPermissionsAfterStart();
const results: Record<string, string> = {};
const attempt = async (name: string, action: () => unknown) => {
  try {
    await action();
    results[name] = "ok";
  } catch (error) {
    results[name] = (error as Error).name;
  }
};
await attempt("run a program", () => new Deno.Command("true").output());
await attempt("read HOME", () => Deno.env.get("HOME"));
await attempt("list network interfaces", () => Deno.networkInterfaces());
results["import from deno.land"] = Deno.permissions.querySync({ name: "import", host: "deno.land:443" } as unknown as Deno.PermissionDescriptor).state;
await attempt("read a file", () => Deno.readTextFileSync(Deno.args[0]));
console.log(JSON.stringify({ line, results }));
`,
    );
    const result = await runProcess(Deno.execPath(), [
      "run",
      "--quiet",
      "--allow-all",
      `--config=${join(root, "deno.json")}`,
      script,
      script,
    ]);
    assert.equal(result.code, 0, result.stderr);
    const { line, results } = JSON.parse(result.stdout);
    assert.deepEqual(results, {
      "run a program": DENIED,
      "read HOME": DENIED,
      "list network interfaces": DENIED,
      "import from deno.land": "prompt",
      "read a file": "ok",
    });
    assert.match(
      line,
      /^permissions: no run, ffi, import, env, sys; read, write, net NOT narrowed/,
    );
  });
});

Deno.test({
  name: "vm pkg start --foreground by hand: drops run/env/sys, configures its project, cleans it",
  async fn() {
    await withTempDir(async (dir) => {
      const project = join(dir, "project");
      await Deno.mkdir(project);
      await Deno.writeTextFile(join(project, "package.json"), '{"name":"p","version":"1.0.0"}');
      const port = freePort();
      const { command, args } = selfCommand([
        "pkg",
        "start",
        "--foreground",
        "--no-bridge",
        `--port=${port}`,
        `--data=${join(dir, "data")}`,
      ]);
      const child = new Deno.Command(command, {
        args,
        cwd: project,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
        env: { VM_PKG_CONFIG: join(dir, "none.yaml") },
      }).spawn();
      const output = child.output();
      try {
        let answered = false;
        for (let i = 0; i < 300 && !answered; i++) {
          answered = await fetch(`http://127.0.0.1:${port}/-/health`).then(
            async (response) => (await response.body?.cancel(), response.ok),
            () => false,
          );
          if (!answered) await new Promise((resolve) => setTimeout(resolve, 50));
        }
        assert.ok(answered, "the server did not answer");
        // onReady (the project's configuration) ran before the permissions were dropped.
        let npmrc = "";
        for (let i = 0; i < 100 && !npmrc; i++) {
          npmrc = await Deno.readTextFile(join(project, ".npmrc")).catch(() => "");
          if (!npmrc) await new Promise((resolve) => setTimeout(resolve, 50));
        }
        assert.match(npmrc, new RegExp(`registry=http://127\\.0\\.0\\.1:${port}/npm/`));
      } finally {
        child.kill("SIGTERM");
      }
      const { code, stdout, stderr } = await output;
      const text = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
      assert.equal(code, 0, text);
      assert.match(
        text,
        /permissions: no run, ffi, import, env, sys; read, write, net NOT narrowed/,
      );
      // Run by hand it can still write the project's files, so it cleans them itself.
      assert.match(text, /removed the vm pkg block from .*\.npmrc/);
      await assert.rejects(Deno.stat(join(project, ".npmrc")), Deno.errors.NotFound);
    });
  },
});

const clients = await Promise.all([hasNpm(), hasPython(), hasCargo()]);
const missing = ["npm", "python3", "cargo"].filter((_, i) => !clients[i]);
if (missing.length) console.warn(`skipping the sandboxed installs: no ${missing.join(", ")}`);

Deno.test({
  name: "npm, pip and cargo install through the sandboxed background server",
  ignore: missing.length > 0 || !PROC,
  async fn() {
    await withTempDir(async (dir) => {
      const vm = vmIn(dir);
      const port = freePort();
      const url = `http://127.0.0.1:${port}`;
      await Deno.writeTextFile(join(dir, "pkg.yaml"), `port: ${port}\n`);
      try {
        await vm("pkg", "start", "--no-config");
        const { scope } = permissions(await commandLine(url));
        assert.equal(scope("run"), null);
        assert.deepEqual(
          scope("net")?.filter((host) => !host.endsWith(`:${port}`)).sort(),
          [
            "files.pythonhosted.org:443",
            "index.crates.io:443",
            "proxy.golang.org:443",
            "pypi.org:443",
            "registry.npmjs.org:443",
            "static.crates.io:443",
          ],
        );

        const project = join(dir, "npm-project");
        await Deno.mkdir(project);
        await Deno.writeTextFile(join(project, "package.json"), '{"name":"p","version":"1.0.0"}');
        const npm = await runNpm(["install", "--no-audit", "is-number@7.0.0"], {
          cwd: project,
          registry: `${url}/npm/`,
          cache: join(project, ".npm-cache"),
        });
        assert.equal(npm.code, 0, npm.stderr);

        const python = await makeVenv(join(dir, "venv"));
        const pip = await pipInstall(python, `${url}/pypi/simple/`, ["six==1.16.0"]);
        assert.equal(pip.code, 0, pip.stderr);

        const crate = join(dir, "crate");
        await writeCrate(crate, [
          "[package]",
          'name = "sandboxed"',
          'version = "0.1.0"',
          'edition = "2021"',
          "[dependencies]",
          'itoa = "=1.0.11"',
        ], { path: "src/main.rs", text: "fn main() {}\n" });
        const home = join(crate, ".cargo-home");
        await Deno.mkdir(home);
        await Deno.writeTextFile(join(home, "config.toml"), cargoConfigToml(url));
        const cargo = await runCargo(["fetch"], crate, { home, targetDir: join(crate, "target") });
        assert.equal(cargo.code, 0, cargo.stderr);

        const status = await (await fetch(`${url}/-/status`)).json();
        for (const ecosystem of ["npm", "pypi", "cargo"]) {
          assert.ok(status.ecosystems[ecosystem].packages >= 1, `${ecosystem} cached nothing`);
        }
        const log = await Deno.readTextFile(join(dir, "data", "server.log"));
        assert.doesNotMatch(log, /NotCapable|Requires \w+ access/);
      } finally {
        await vm("pkg", "stop");
      }
    });
  },
});

const { skip: noDocker, available } = await dockerTestGate("the --docker sandbox test");

Deno.test({
  name: "vm pkg start --docker: the server in the container gets the same narrow flags",
  ignore: noDocker,
  async fn() {
    if (!available.ok) throw new Error(`Docker is required here: ${available.reason}`);
    await withTempDir(async (dir) => {
      const env = { VM_PKG_DATA: join(dir, "data"), VM_PKG_CONFIG: join(dir, "pkg.yaml") };
      const port = freePort();
      const vm = (args: string[]) => {
        const { command, args: full } = selfCommand(args);
        return runProcess(command, full, { cwd: dir, env });
      };
      try {
        const started = await vm(["pkg", "start", "--docker", "--no-config", "--port", `${port}`]);
        assert.equal(started.code, 0, started.stderr);
        const inspect = await docker([
          "container",
          "inspect",
          "-f",
          "{{json .Args}}",
          "vm-pkg-registry",
        ]);
        assert.equal(inspect.code, 0, inspect.stderr);
        const { flags, scope } = permissions(JSON.parse(inspect.stdout));
        assert.equal(scope("run"), null, flags.join(" "));
        assert.equal(scope("sys"), null, "--no-bridge in the container: no interface lookup");
        assert.deepEqual(scope("write"), ["/data"]);
        assert.equal(scope("read")?.[0], "/data");
        assert.equal(scope("read")?.length, 2, "the data dir and the (absent) config path");
        assert.deepEqual(
          scope("net")?.sort(),
          [
            "0.0.0.0:3080",
            "files.pythonhosted.org:443",
            "index.crates.io:443",
            "proxy.golang.org:443",
            "pypi.org:443",
            "registry.npmjs.org:443",
            "static.crates.io:443",
          ],
        );
        const health = await fetch(`http://127.0.0.1:${port}/-/health`);
        assert.equal(health.status, 200);
        await health.body?.cancel();
      } finally {
        const stopped = await vm(["pkg", "stop"]);
        assert.equal(stopped.code, 0, stopped.stderr);
      }
    });
  },
});
