// `vm pkg config` through the real CLI, and `vm pkg start` taking its settings from the file.
import assert from "node:assert/strict";
import { join } from "node:path";
import { freePort, runVm } from "../support/cli.ts";

/** A temp dir whose pkg.yaml the CLI uses (VM_PKG_CONFIG); VM_PKG_DATA is blanked out. */
async function withConfigFile(
  run: (
    vm: (...args: string[]) => ReturnType<typeof runVm>,
    path: string,
    dir: string,
  ) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "vm-config-cli-" });
  const path = join(dir, "pkg.yaml");
  try {
    await run((...args) => runVm(args, { VM_PKG_CONFIG: path, VM_PKG_DATA: "" }), path, dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A one-line `vm: error:` on stderr, nothing on stdout, exit 1. */
function assertOneLineError(result: Awaited<ReturnType<typeof runVm>>, pattern: RegExp): void {
  assert.equal(result.code, 1, result.stderr);
  assert.equal(result.stdout, "");
  assert.match(result.stderr, /^vm: error: [^\n]+\n$/);
  assert.match(result.stderr, pattern);
}

Deno.test("config path, show without a file, set, get, show, --json, reset", async () => {
  await withConfigFile(async (vm, path) => {
    const where = await vm("pkg", "config", "path");
    assert.equal(where.code, 0);
    assert.equal(where.stdout, `${path}\n`);

    const empty = await vm("pkg", "config", "show");
    assert.equal(empty.code, 0, empty.stderr);
    assert.match(empty.stdout, /no such file yet/);
    assert.match(empty.stdout, /^port: +3080 \(default\)$/m);
    assert.equal(empty.stdout.match(/\(default\)$/gm)?.length, 20);

    const set = await vm("pkg", "config", "set", "port", "4873");
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, new RegExp(`port = 4873 \\(in ${path.replaceAll(".", "\\.")}\\)`));
    assert.match(await Deno.readTextFile(path), /^# Settings of `vm pkg`[^]*\nport: 4873\n$/);
    for (const [key, value] of [["metadata_ttl", "5m"], ["max_cache_size", "10GB"]]) {
      assert.equal((await vm("pkg", "config", "set", key, value)).code, 0);
    }

    const get = await vm("pkg", "config", "get", "port");
    assert.equal(get.stdout, "4873\n");
    assert.equal((await vm("pkg", "config", "get", "metadata_ttl")).stdout, "5m\n");
    assert.equal((await vm("pkg", "config", "get", "host")).stdout, "127.0.0.1\n");
    const getJson = JSON.parse(
      (await vm("pkg", "config", "get", "max_cache_size", "--json")).stdout,
    );
    assert.deepEqual(getJson, { key: "max_cache_size", value: 10 * 1024 ** 3, default: false });

    const show = await vm("pkg", "config", "show");
    assert.match(show.stdout, new RegExp(`^# ${path.replaceAll(".", "\\.")}$`, "m"));
    assert.match(show.stdout, /^port: +4873$/m);
    assert.match(show.stdout, /^metadata_ttl: +5m$/m);
    assert.match(show.stdout, /^host: +127\.0\.0\.1 \(default\)$/m);

    // `vm pkg config` alone is `show`, and takes its --json.
    for (const args of [["pkg", "config", "show", "--json"], ["pkg", "config", "--json"]]) {
      const json = JSON.parse((await vm(...args)).stdout);
      assert.equal(json.path, path);
      assert.equal(json.exists, true);
      assert.equal(json.values.port, 4873);
      assert.equal(json.values.metadata_ttl, 300);
      assert.equal(json.values.max_cache_size, 10 * 1024 ** 3);
      assert.equal(json.values.log_requests, false);
      assert.equal(json.defaults.length, 17);
      assert.ok(json.defaults.includes("host") && !json.defaults.includes("port"));
    }

    const reset = await vm("pkg", "config", "reset", "port");
    assert.equal(reset.code, 0);
    assert.match(reset.stdout, /port reset to its default \(3080\)/);
    assert.equal((await vm("pkg", "config", "get", "port")).stdout, "3080\n");
    assert.match((await vm("pkg", "config", "get", "metadata_ttl")).stdout, /^5m$/m);

    const resetAll = await vm("pkg", "config", "reset");
    assert.equal(resetAll.code, 0);
    assert.match(resetAll.stdout, /removed metadata_ttl, max_cache_size/);
    assert.match(await Deno.readTextFile(path), /^# Settings of `vm pkg`[^:]*$/);
    const afterReset = JSON.parse((await vm("pkg", "config", "show", "--json")).stdout);
    assert.equal(afterReset.defaults.length, 20);
  });
});

Deno.test("config mistakes are one line with exit 1", async () => {
  await withConfigFile(async (vm, path) => {
    assertOneLineError(
      await vm("pkg", "config", "set", "prot", "4000"),
      /unknown config key 'prot' \(did you mean port\?\)/,
    );
    assertOneLineError(await vm("pkg", "config", "get", "ttl"), /did you mean metadata_ttl\?/);
    assertOneLineError(await vm("pkg", "config", "reset", "nope"), /unknown config key 'nope'/);
    assertOneLineError(
      await vm("pkg", "config", "set", "port", "99999"),
      /invalid value for port: '99999' \(expected a port number from 1 to 65535\)/,
    );
    assertOneLineError(
      await vm("pkg", "config", "set", "max_cache_size", "lots"),
      /expected a size such as 10GB/,
    );
    await assert.rejects(Deno.stat(path), Deno.errors.NotFound);

    await Deno.writeTextFile(path, "port: 4000\nhost: [oops\n");
    const broken = await vm("pkg", "config", "show");
    assertOneLineError(broken, /invalid YAML in .*pkg\.yaml at line 3, column 1: /);
    // Every command that reads the file says the same.
    assertOneLineError(await vm("pkg", "status"), /invalid YAML in .*pkg\.yaml at line 3/);

    await Deno.writeTextFile(path, "port: 4000\nprot: 4001\n");
    assertOneLineError(
      await vm("pkg", "config", "get", "port"),
      /unknown key 'prot' in .*pkg\.yaml at line 2 \(did you mean port\?\)/,
    );
    await Deno.writeTextFile(path, "\nlog_requests: maybe\n");
    assertOneLineError(
      await vm("pkg", "config", "show"),
      /invalid value for log_requests in .* at line 2: 'maybe' \(expected true or false\)/,
    );
  });
});

Deno.test("vm pkg start takes its port from the config file; set says a restart is due", async () => {
  await withConfigFile(async (vm, path, dir) => {
    const dataDir = join(dir, "data");
    const port = freePort();
    await Deno.writeTextFile(path, `# test\nport: ${port}\ndata_dir: ${dataDir}\n`);
    try {
      const started = await vm("pkg", "start", "--data", dataDir);
      assert.equal(started.code, 0, started.stderr);
      assert.match(started.stdout, new RegExp(`running at http://127\\.0\\.0\\.1:${port} `));

      const status = await vm("pkg", "status", "--json", "--data", dataDir);
      assert.equal(status.code, 0, status.stderr);
      assert.equal(JSON.parse(status.stdout).url, `http://127.0.0.1:${port}`);
      // Without --data, status finds the server through data_dir in the file.
      const byConfig = await vm("pkg", "status", "--json");
      assert.equal(JSON.parse(byConfig.stdout).dataDir, dataDir);

      const set = await vm("pkg", "config", "set", "metadata_ttl", "1h");
      assert.equal(set.code, 0, set.stderr);
      assert.match(
        set.stdout,
        new RegExp(`registry at http://127\\.0\\.0\\.1:${port} .*after a restart: vm pkg stop `),
      );
      // Moving data_dir away from the running server: the hint names where it runs.
      const moved = await vm("pkg", "config", "set", "data_dir", join(dir, "elsewhere"));
      assert.match(moved.stdout, new RegExp(`vm pkg stop --data ${dataDir} && vm pkg start`));
    } finally {
      const stopped = await vm("pkg", "stop", "--data", dataDir);
      assert.equal(stopped.code, 0, stopped.stderr);
    }
  });
});
