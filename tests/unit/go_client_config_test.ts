// How the go command is pointed at the registry: GOPROXY from `vm pkg use`/`exec`, the user-wide
// go env file a VM gets, and what `vm pkg start` says about a go.mod project. The go command itself
// reads each back.
import assert from "node:assert/strict";
import { join } from "node:path";
import { writeProjectConfig } from "../../src/clients/project_config.ts";
import { allClientsEnv, clientEnv, publicClientEnv } from "../../src/clients/routing.ts";
import { shellHook } from "../../src/clients/shell_hook.ts";
import { userConfigFiles } from "../../src/clients/user_config.ts";
import { wrapperScript } from "../../src/vm/client_wrappers.ts";
import { freePort } from "../support/cli.ts";
import { hasProgram, runProcess, withTempDir } from "../support/process.ts";

const goMissing = !(await hasProgram("go", ["version"]));

Deno.test("GOPROXY is the registry's /go alone while it answers, Go's default when it does not", () => {
  assert.deepEqual(clientEnv("go", "http://127.0.0.1:3080"), {
    GOPROXY: "http://127.0.0.1:3080/go",
  });
  assert.equal(allClientsEnv("http://127.0.0.1:3080/").GOPROXY, "http://127.0.0.1:3080/go");
  assert.deepEqual(publicClientEnv("go"), { GOPROXY: "https://proxy.golang.org,direct" });
});

Deno.test({
  name: "a VM's go env file and `vm pkg use`'s go function, as the go command reads them",
  ignore: goMissing,
  async fn() {
    await withTempDir(async (dir) => {
      const url = "http://host.docker.internal:3080";
      const file = join(dir, "go.env");
      await Deno.writeTextFile(file, userConfigFiles(url)[".config/go/env"]);
      const env = { PATH: Deno.env.get("PATH")!, HOME: dir, GOENV: file, GOTOOLCHAIN: "local" };
      const read = await runProcess("go", ["env", "GOPROXY", "GOSUMDB"], { clearEnv: true, env });
      assert.equal(read.code, 0, read.stderr);
      assert.equal(read.stdout, `${url}/go\nsum.golang.org\n`);

      // bash with the hook: `go` goes through the registry while /-/health answers.
      const server = Deno.serve(
        { hostname: "127.0.0.1", port: 0, onListen() {} },
        () => Response.json({ ok: true }),
      );
      try {
        const base = `http://127.0.0.1:${server.addr.port}`;
        const hook = shellHook("bash", { baseUrl: base, ttlSeconds: 5, pingCommand: ["false"] });
        const result = await runProcess("bash", ["-c", `${hook}\ngo env GOPROXY`], {
          clearEnv: true,
          env: { ...env, GOENV: "off" },
        });
        assert.equal(result.code, 0, result.stderr);
        assert.equal(result.stdout, `${base}/go\n`);
      } finally {
        await server.shutdown();
      }
    });
  },
});

Deno.test("vm pkg start in a go.mod project writes nothing for Go and says why", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "go.mod"), "module example.com/x\n\ngo 1.19\n");
    const changes = await writeProjectConfig(dir, "http://127.0.0.1:3080", "/nonexistent");
    assert.deepEqual(changes.map(({ path, action }) => ({ path, action })), [
      { path: join(dir, "go.mod"), action: "skipped" },
    ]);
    assert.match(changes[0].reason!, /no project-level setting.*vm pkg exec go/);
    assert.deepEqual([...Deno.readDirSync(dir)].map((entry) => entry.name), ["go.mod"]);
  });
});

Deno.test({
  name:
    "a VM's go wrapper: the registry from the go env file while it answers, Go's default when not",
  ignore: goMissing,
  async fn() {
    await withTempDir(async (dir) => {
      const which = await runProcess("sh", ["-c", "command -v go"]);
      const goDir = which.stdout.trim().replace(/\/go$/, "");
      const wrappers = join(dir, "wrappers");
      await Deno.mkdir(wrappers);
      await Deno.symlink(join(dir, "route"), join(wrappers, "go"));
      const goEnv = async (registryUrl: string) => {
        await Deno.writeTextFile(
          join(dir, "route"),
          wrapperScript({ registryUrl, ttl: { upSeconds: 0, downSeconds: 0 } }),
          { mode: 0o755 },
        );
        await Deno.writeTextFile(
          join(dir, "go.env"),
          userConfigFiles(registryUrl)[".config/go/env"],
        );
        // The wrapper first on PATH, as in a VM; it finds the real go after itself.
        return await runProcess(join(wrappers, "go"), ["env", "GOPROXY"], {
          clearEnv: true,
          env: {
            PATH: `${wrappers}:${goDir}:/usr/bin:/bin`,
            HOME: dir,
            GOENV: join(dir, "go.env"),
            GOTOOLCHAIN: "local",
          },
        });
      };
      const down = await goEnv(`http://127.0.0.1:${freePort()}`);
      assert.equal(down.code, 0, down.stderr);
      assert.equal(down.stdout, "https://proxy.golang.org,direct\n");
      assert.match(down.stderr, /does not answer/);

      const server = Deno.serve(
        { hostname: "127.0.0.1", port: 0, onListen() {} },
        () => Response.json({ ok: true }),
      );
      try {
        const base = `http://127.0.0.1:${server.addr.port}`;
        const up = await goEnv(base);
        assert.equal(up.code, 0, up.stderr);
        assert.equal(up.stdout, `${base}/go\n`);
      } finally {
        await server.shutdown();
      }
    });
  },
});
