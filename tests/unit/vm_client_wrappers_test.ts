// The VM's client wrappers, run for real with bash on this machine: a stand-in client on PATH after
// them prints what it was given, and a loopback server plays the host registry's health route.
import assert from "node:assert/strict";
import { join } from "node:path";
import { FALLBACK_MESSAGE, WRAPPED_COMMANDS, wrapperScript } from "../../src/vm/client_wrappers.ts";
import { freePort } from "../support/cli.ts";
import { runProcess, withTempDir } from "../support/process.ts";

/** A client that prints its name, arguments and the variables the wrappers set. */
const STAND_IN = `#!/bin/bash
echo "name=\${0##*/}"
echo "args=$*"
for v in npm_config_registry PIP_INDEX_URL UV_DEFAULT_INDEX YARN_NPM_REGISTRY_SERVER; do
  [[ -v $v ]] && echo "$v=\${!v}"
done
exit 0
`;

const NO_TTL = { upSeconds: 0, downSeconds: 0 };

interface Setup {
  dir: string;
  run(command: string, args: string[], env?: Record<string, string>): Promise<Run>;
}

interface Run {
  code: number;
  stderr: string;
  lines: Record<string, string>;
}

async function withWrappers(
  registryUrl: string,
  ttl: { upSeconds: number; downSeconds: number },
  fn: (setup: Setup) => Promise<void>,
): Promise<void> {
  await withTempDir(async (dir) => {
    const wrappers = join(dir, "wrappers");
    const clients = join(dir, "clients");
    await Deno.mkdir(wrappers);
    await Deno.mkdir(clients);
    await Deno.mkdir(join(dir, "home"));
    await Deno.writeTextFile(join(dir, "route"), wrapperScript({ registryUrl, ttl }), {
      mode: 0o755,
    });
    for (const name of WRAPPED_COMMANDS) {
      await Deno.symlink("../route", join(wrappers, name));
      if (name !== "uvx") {
        await Deno.writeTextFile(join(clients, name), STAND_IN, { mode: 0o755 });
      }
    }
    const run = async (command: string, args: string[], env: Record<string, string> = {}) => {
      const result = await runProcess(join(wrappers, command), args, {
        clearEnv: true,
        // The wrappers' own directory is on PATH too, as in the VM: it must skip itself.
        env: { PATH: `${wrappers}:${clients}:/usr/bin:/bin`, HOME: join(dir, "home"), ...env },
      });
      const lines: Record<string, string> = {};
      for (const line of result.stdout.split("\n")) {
        const at = line.indexOf("=");
        if (at > 0) lines[line.slice(0, at)] = line.slice(at + 1);
      }
      return { code: result.code, stderr: result.stderr, lines };
    };
    await fn({ dir, run });
  });
}

function healthServer() {
  return Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (request) =>
      new URL(request.url).pathname === "/-/health"
        ? Response.json({ ok: true })
        : new Response("", { status: 404 }),
  );
}

Deno.test("with the registry answering, the wrappers run the real clients unchanged", async () => {
  const server = healthServer();
  try {
    await withWrappers(`http://127.0.0.1:${server.addr.port}`, NO_TTL, async ({ run }) => {
      const npm = await run("npm", ["install", "is-number"]);
      assert.equal(npm.code, 0, npm.stderr);
      assert.equal(npm.lines.name, "npm");
      assert.equal(npm.lines.args, "install is-number");
      assert.equal(npm.lines.npm_config_registry, undefined);
      assert.equal(npm.stderr, "");
      const cargo = await run("cargo", ["+stable", "fetch"]);
      assert.equal(cargo.lines.args, "+stable fetch");
      const pip = await run("python3", ["-m", "pip", "install", "six"]);
      assert.equal(pip.lines.args, "-m pip install six");
      assert.equal(pip.lines.PIP_INDEX_URL, undefined);
    });
  } finally {
    await server.shutdown();
  }
});

Deno.test("with the registry down, the wrappers send each client to the public registries", async () => {
  await withWrappers(`http://127.0.0.1:${freePort()}`, NO_TTL, async ({ run }) => {
    const started = performance.now();
    const npm = await run("npm", ["install", "is-number"]);
    const elapsed = performance.now() - started;
    assert.equal(npm.code, 0, npm.stderr);
    assert.equal(npm.lines.args, "install is-number");
    assert.equal(npm.lines.npm_config_registry, "https://registry.npmjs.org/");
    assert.equal(npm.stderr.trim(), FALLBACK_MESSAGE);
    assert.ok(elapsed < 2000, `a refused connection is a quick answer (${elapsed} ms)`);

    assert.equal(
      (await run("npx", ["x"])).lines.npm_config_registry,
      "https://registry.npmjs.org/",
    );
    assert.equal(
      (await run("yarn", [])).lines.YARN_NPM_REGISTRY_SERVER,
      "https://registry.npmjs.org/",
    );
    assert.equal(
      (await run("pip", ["install", "six"])).lines.PIP_INDEX_URL,
      "https://pypi.org/simple/",
    );
    assert.equal((await run("pip3", [])).lines.PIP_INDEX_URL, "https://pypi.org/simple/");
    assert.equal((await run("uv", ["pip"])).lines.UV_DEFAULT_INDEX, "https://pypi.org/simple/");

    // cargo: the replacement as --config, after a leading +toolchain.
    const config = '--config registries.crates-io.protocol="git" --config ' +
      'source.crates-io.replace-with="public-crates-io" --config ' +
      'source.public-crates-io.registry="sparse+https://index.crates.io/"';
    assert.equal((await run("cargo", ["fetch"])).lines.args, `${config} fetch`);
    assert.equal(
      (await run("cargo", ["+nightly", "build"])).lines.args,
      `+nightly ${config} build`,
    );

    // python3 is a package client only as `python3 -m pip` / `-m uv`; otherwise nothing happens.
    const modulePip = await run("python3", ["-m", "pip", "install", "six"]);
    assert.equal(modulePip.lines.PIP_INDEX_URL, "https://pypi.org/simple/");
    assert.equal(
      (await run("python", ["-m", "uv"])).lines.UV_DEFAULT_INDEX,
      "https://pypi.org/simple/",
    );
    const script = await run("python3", ["-c", "print(1)"]);
    assert.equal(script.lines.args, "-c print(1)");
    assert.equal(script.lines.PIP_INDEX_URL, undefined);
    assert.equal(script.stderr, "", "no check and no message for plain python");

    // A variable the user set is kept; a client run by a falling-back client says nothing more.
    const own = await run("pip", [], { PIP_INDEX_URL: "https://example.invalid/simple/" });
    assert.equal(own.lines.PIP_INDEX_URL, "https://example.invalid/simple/");
    assert.equal((await run("npm", [], { VM_REGISTRY_FALLBACK: "1" })).stderr, "");

    const missing = await run("uvx", ["ruff"]);
    assert.equal(missing.code, 127);
    assert.match(missing.stderr, /uvx: command not found/);
  });
});

Deno.test("one health answer is remembered for the TTL, per user, then asked again", async () => {
  const port = freePort();
  let server = Deno.serve(
    { hostname: "127.0.0.1", port, onListen() {} },
    () => Response.json({ ok: true }),
  );
  try {
    await withWrappers(
      `http://127.0.0.1:${port}`,
      { upSeconds: 60, downSeconds: 60 },
      async ({ dir, run }) => {
        assert.equal((await run("npm", [])).lines.npm_config_registry, undefined);
        await server.shutdown();
        // Within the TTL the remembered "up" stands: no new check.
        assert.equal((await run("npm", [])).lines.npm_config_registry, undefined);
        const stateFile = join(dir, "home", ".cache", "vm", `registry-health-${port}`);
        assert.match(await Deno.readTextFile(stateFile), /^\d+ up\n$/);
        // Past it (the remembered time moved back), the registry is asked again: down.
        await Deno.writeTextFile(stateFile, "1 up\n");
        const down = await run("npm", []);
        assert.equal(down.lines.npm_config_registry, "https://registry.npmjs.org/");
        assert.match(await Deno.readTextFile(stateFile), /^\d+ down\n$/);
        // Answering again, it is used again once the remembered "down" has expired.
        server = Deno.serve(
          { hostname: "127.0.0.1", port, onListen() {} },
          () => Response.json({ ok: true }),
        );
        await Deno.writeTextFile(stateFile, "1 down\n");
        assert.equal((await run("npm", [])).lines.npm_config_registry, undefined);
      },
    );
  } finally {
    await server.shutdown();
  }
});

Deno.test("the wrapper script quotes what it embeds and parses with bash -n", async () => {
  const script = wrapperScript({ registryUrl: "http://host.docker.internal:3080" });
  assert.match(script, /^registry='http:\/\/host\.docker\.internal:3080'$/m);
  assert.match(script, /registry-health-3080/);
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "route"), script);
    const check = await runProcess("bash", ["-n", join(dir, "route")]);
    assert.equal(check.code, 0, check.stderr);
  });
});

Deno.test("an 'up' answer is trusted for its own, shorter time than a 'down' one", async () => {
  const port = freePort();
  let server = Deno.serve({ hostname: "127.0.0.1", port, onListen() {} }, () => new Response("ok"));
  try {
    await withWrappers(
      `http://127.0.0.1:${port}`,
      { upSeconds: 0, downSeconds: 60 },
      async ({ run }) => {
        assert.equal((await run("npm", [])).lines.npm_config_registry, undefined);
        await server.shutdown();
        // "up" is not remembered: the stopped registry is noticed at once.
        assert.equal(
          (await run("npm", [])).lines.npm_config_registry,
          "https://registry.npmjs.org/",
        );
        server = Deno.serve(
          { hostname: "127.0.0.1", port, onListen() {} },
          () => new Response("ok"),
        );
        // "down" is: the public registries serve until it expires.
        assert.equal(
          (await run("npm", [])).lines.npm_config_registry,
          "https://registry.npmjs.org/",
        );
      },
    );
  } finally {
    await server.shutdown();
  }
});
