// `curl -fsSL http://HOST:PORT/setup.sh | sh` on the real Docker engine, as a machine other than
// a VM would run it (a CI runner, a laptop): in a container of the base image, as a non-root user
// with an .npmrc of their own, against a registry on the host's bridge address. npm and pip (into a
// venv) then install through the registry (its counters rise); with the registry stopped they
// install from the public registries with the one-line fallback message; `sh -s -- --undo` puts
// the user's .npmrc and .profile back byte for byte and removes everything else it wrote. Also:
// the route with hostile Host headers (never in the script), and `vm pkg ui`.
import assert from "node:assert/strict";
import { FALLBACK_MESSAGE } from "../../src/registry/client_wrapper_script.ts";
import { silentLogger } from "../../src/registry/logger.ts";
import { type RegistryStatus, startRegistry } from "../../src/registry/server.ts";
import {
  BASE_IMAGE,
  bridgeGateway,
  createNetwork,
  docker,
  dockerOk,
  dockerTestGate,
  newTestId,
  removeTestObjects,
  testLabelArgs,
  trustHostCertificates,
} from "../support/docker.ts";
import { withTempDir } from "../support/process.ts";
import { rawGet, withRegistry } from "../support/registry.ts";
import { freePort, runVm } from "../support/cli.ts";
import { join } from "node:path";

const { skip, available } = await dockerTestGate("the /setup.sh test");

const USER = "tester";
const HOME = `/home/${USER}`;

function requests(status: RegistryStatus): Record<string, number> {
  return Object.fromEntries(
    Object.entries(status.ecosystems).map(([name, counters]) => [name, counters.requests]),
  );
}

Deno.test({
  name:
    "setup.sh sets up a non-root user's npm and pip, falls back when the registry stops, and --undo restores",
  ignore: skip,
  async fn() {
    if (!available.ok) throw new Error(`Docker is required here: ${available.reason}`);
    await withTempDir(async (dataDir) => {
      const id = newTestId();
      const network = `vm-setup-sh-${id}`;
      const container = `vm-setup-sh-${id}`;
      const registry = await startRegistry({
        dataDir,
        hostname: await bridgeGateway(),
        port: 0,
        logger: silentLogger,
      });
      let running = true;
      /** Runs a script as the user in a login shell (what a terminal opens: it reads ~/.profile). */
      const asUser = (script: string) =>
        docker(
          ["exec", "-i", "-u", USER, "-e", `HOME=${HOME}`, "-w", HOME, container, "bash", "-l"],
          { stdin: `set -e\n${script}\n`, timeoutMs: 300_000 },
        );
      try {
        await createNetwork(network, id);
        await dockerOk([
          "run",
          "-d",
          "--name",
          container,
          "--network",
          network,
          "--add-host",
          "host.docker.internal:host-gateway",
          ...testLabelArgs(id),
          BASE_IMAGE,
          "sleep",
          "infinity",
        ], "starting the container");
        await trustHostCertificates(container);
        await dockerOk(
          ["exec", container, "useradd", "-m", "-s", "/bin/bash", USER],
          "creating the user",
        );
        const url = `http://host.docker.internal:${registry.port}`;

        // The user's own files, without a final newline: they must come back byte for byte.
        const own = await asUser(
          `printf 'fund=false\\n//example.org/:_authToken=abc' > ~/.npmrc
           printf '\\n# my profile' >> ~/.profile
           sha256sum ~/.npmrc ~/.profile`,
        );
        assert.equal(own.code, 0, own.stderr);
        const hashesBefore = own.stdout;

        const setup = await asUser(
          `curl -fsSL ${url}/setup.sh | sh
           curl -fsSL ${url}/setup.sh -o /tmp/setup.sh`,
        );
        assert.equal(setup.code, 0, setup.stderr);
        console.log(setup.stdout.trim());
        assert.match(setup.stdout, /moved your ~\/\.npmrc/);
        assert.match(setup.stdout, /^setup\.sh: wrote ~\/\.config\/pip\/pip\.conf$/m);
        assert.match(setup.stdout, new RegExp(`${url} serves npm`));
        const again = await asUser("sh -s </tmp/setup.sh");
        assert.deepEqual(
          again.stdout.trim().split("\n").filter((line) =>
            !/^setup\.sh: unchanged |serves npm/.test(line)
          ),
          [],
        );

        // Through the registry: its counters rise.
        const before = requests(await registry.status());
        const through = await asUser(
          `command -v npm pip
           mkdir -p ~/p && cd ~/p && npm init -y >/dev/null
           npm install --no-audit --no-fund is-number@7.0.0
           python3 -m venv ~/venv
           PATH="$HOME/.local/lib/vm/bin:$HOME/venv/bin:$PATH"
           pip install --disable-pip-version-check six==1.16.0`,
        );
        assert.equal(through.code, 0, through.stderr);
        const wrappers = through.stdout.trim().split("\n").slice(0, 2);
        assert.deepEqual(wrappers, [
          `${HOME}/.local/lib/vm/bin/npm`,
          `${HOME}/.local/lib/vm/bin/pip`,
        ]);
        assert.doesNotMatch(through.stderr, /does not answer/);
        const after = requests(await registry.status());
        assert.ok(after.npm > before.npm, `npm requests ${before.npm} -> ${after.npm}`);
        assert.ok(after.pypi > before.pypi, `pypi requests ${before.pypi} -> ${after.pypi}`);
        console.log(`setup.sh: through the registry, requests ${JSON.stringify(after)}`);

        // The registry stops: the next installs go to the public registries, with one line each.
        await registry.shutdown();
        running = false;
        const started = performance.now();
        const fallback = await asUser(
          `rm -rf ~/.cache/vm
           cd ~/p && npm install --no-audit --no-fund is-odd@3.0.1
           PATH="$HOME/.local/lib/vm/bin:$HOME/venv/bin:$PATH"
           pip install --disable-pip-version-check six==1.17.0`,
        );
        assert.equal(fallback.code, 0, fallback.stderr);
        const messages = fallback.stderr.split("\n").filter((line) => line === FALLBACK_MESSAGE);
        assert.equal(messages.length, 2, fallback.stderr);
        console.log(
          `setup.sh: with the registry stopped, npm and pip installed from the public registries ` +
            `in ${Math.round(performance.now() - started)} ms`,
        );

        // --undo, from the saved script (the registry is down): the user's files come back.
        const undo = await asUser(
          `sh -s -- --undo </tmp/setup.sh
           sha256sum ~/.npmrc ~/.profile
           for path in .yarnrc.yml .config/pip/pip.conf .config/uv .cargo/config.toml \\
             .config/go/env .local/lib/vm .cache/vm; do
             if [ -e "$path" ]; then echo "left: $path"; fi
           done`,
        );
        assert.equal(undo.code, 0, undo.stderr);
        console.log(undo.stdout.trim());
        assert.match(undo.stdout, /^setup\.sh: restored your ~\/\.npmrc$/m);
        const afterUndo = undo.stdout.split("\n").filter((line) => !line.startsWith("setup.sh:"))
          .join("\n");
        assert.equal(afterUndo, hashesBefore);
        const path = await asUser("command -v npm");
        assert.equal(path.stdout.trim(), "/usr/bin/npm");
      } finally {
        if (running) await registry.shutdown();
        await removeTestObjects(id);
      }
    });
  },
});

Deno.test("GET /setup.sh uses the Host it came in on, and the server's own URL for a hostile one", async () => {
  await withRegistry({}, async (registry) => {
    const response = await fetch(`${registry.url}/setup.sh`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type") ?? "", /^text\/x-shellscript/);
    assert.match(await response.text(), new RegExp(`^registry='${registry.url}'$`, "m"));

    const named = await rawGet(registry.port, "/setup.sh", { host: "team-cache:3080" });
    assert.equal(named.status, 200);
    assert.match(named.body, /^registry='http:\/\/team-cache:3080'$/m);
    assert.match(named.body, /registry=http:\/\/team-cache:3080\/npm\//);

    for (const host of ["evil$(id):3080", "a;b", "`id`", "x'y:1", "evil host:1", "h:3080/x"]) {
      const answer = await rawGet(registry.port, "/setup.sh", { host });
      assert.equal(answer.status, 200, host);
      assert.match(answer.body, new RegExp(`^registry='${registry.url}'$`, "m"), host);
      assert.ok(!answer.body.includes(host), `${host} must not reach the script`);
    }
  });
});

Deno.test("vm pkg ui --no-open prints the dashboard URL of the running registry", async () => {
  await withTempDir(async (dir) => {
    const dataDir = join(dir, "data");
    const port = freePort();
    try {
      const started = await runVm(["pkg", "start", "--port", String(port), "--data", dataDir]);
      assert.equal(started.code, 0, started.stderr);
      const local = await runVm(["pkg", "ui", "--no-open", "--data", dataDir]);
      assert.equal(local.code, 0, local.stderr);
      assert.equal(local.stdout, `http://127.0.0.1:${port}/\n`);
      const remote = await runVm([
        "pkg",
        "ui",
        "--no-open",
        "--server",
        `http://127.0.0.1:${port}/`,
      ]);
      assert.equal(remote.code, 0, remote.stderr);
      assert.equal(remote.stdout, `http://127.0.0.1:${port}/\n`);
    } finally {
      await runVm(["pkg", "stop", "--data", dataDir]);
    }
    const stopped = await runVm(["pkg", "ui", "--no-open", "--data", dataDir]);
    assert.equal(stopped.code, 3, stopped.stderr);
  });
});

Deno.test("vm pkg ui opens a browser only with a desktop session, and never with --no-open", async () => {
  await withRegistry({}, async (registry) => {
    await withTempDir(async (dir) => {
      // A stand-in xdg-open that records the URL it was asked to open.
      const opened = join(dir, "opened");
      await Deno.writeTextFile(
        join(dir, "xdg-open"),
        `#!/bin/sh\nprintf '%s\\n' "$1" >> '${opened}'\n`,
      );
      await Deno.chmod(join(dir, "xdg-open"), 0o755);
      const path = `${dir}:${Deno.env.get("PATH")}`;
      const run = (env: Record<string, string>, ...flags: string[]) =>
        runVm(["pkg", "ui", ...flags, "--server", registry.url], { PATH: path, ...env });
      const read = () => Deno.readTextFile(opened).catch(() => "");

      const desktop = await run({ DISPLAY: ":0" });
      assert.equal(desktop.code, 0, desktop.stderr);
      assert.equal(await read(), `${registry.url}/\n`);
      assert.equal((await run({ DISPLAY: ":0" }, "--no-open")).code, 0);
      assert.equal((await run({ DISPLAY: "", WAYLAND_DISPLAY: "" })).code, 0);
      assert.equal(
        await read(),
        `${registry.url}/\n`,
        "opened once: with DISPLAY, without --no-open",
      );
      const wayland = await run({ DISPLAY: "", WAYLAND_DISPLAY: "wayland-0" });
      assert.equal(wayland.code, 0, wayland.stderr);
      assert.equal(await read(), `${registry.url}/\n${registry.url}/\n`);
    });
  });
});

Deno.test("vm pkg ui exits 3 with one line when the registry does not run", async () => {
  await withTempDir(async (dir) => {
    const local = await runVm(["pkg", "ui", "--no-open", "--data", join(dir, "data")]);
    assert.equal(local.code, 3);
    assert.equal(local.stdout, "");
    assert.equal(local.stderr.trim().split("\n").length, 1, local.stderr);
    assert.match(local.stderr, /the registry is not running/);
    const dead = `http://127.0.0.1:${freePort()}`;
    const remote = await runVm(["pkg", "ui", "--no-open", "--server", dead]);
    assert.equal(remote.code, 3);
    assert.equal(remote.stderr, `vm: error: the registry does not answer at ${dead}\n`);
  });
});
