// The real `vm` CLI as a subprocess: the command tree, errors, and the server's lifecycle.
import assert from "node:assert/strict";
import { dockerBridgeAddresses } from "../../src/daemon/docker_bridge.ts";
import { join } from "node:path";
import { VERSION } from "../../src/version.ts";
import { freePort, runVm } from "../support/cli.ts";
import { readBody, tempFiles, withRegistry } from "../support/registry.ts";
import { startStandInUpstream } from "../support/stand_in_upstream.ts";

Deno.test("--version, --help and pkg --help", async () => {
  const version = await runVm(["--version"]);
  assert.equal(version.code, 0);
  assert.equal(version.stdout.trim(), VERSION);
  const help = await runVm(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /pkg\s+the package registry/);
  assert.match(help.stdout, /completions <shell>/);
  const pkgHelp = await runVm(["pkg", "--help"]);
  assert.match(pkgHelp.stdout, /start \[options\]/);
  assert.match(pkgHelp.stdout, /status \[options\]/);
  const startHelp = await runVm(["pkg", "start", "--help"]);
  assert.match(startHelp.stdout, /--port <port>\s+port to listen on \(default: 3080\)/);
});

Deno.test("mistakes are one line on stderr with a non-zero exit, and a suggestion", async () => {
  const typo = await runVm(["pkg", "strat"]);
  assert.notEqual(typo.code, 0);
  assert.equal(typo.stderr.trim().split("\n").length, 1);
  assert.match(typo.stderr, /unknown command 'strat'.*Did you mean start\?/);
  const badPort = await runVm(["pkg", "start", "--port", "http"]);
  assert.notEqual(badPort.code, 0);
  assert.match(badPort.stderr, /^vm: error: .*port number from 1 to 65535\n$/);
  const badUrl = await runVm(["pkg", "start", "--npm-upstream", "ftp://x"]);
  assert.match(badUrl.stderr, /^vm: error: .*http\(s\) URL\n$/);
  const unknownOption = await runVm(["pkg", "status", "--jsn"]);
  assert.notEqual(unknownOption.code, 0);
  assert.match(unknownOption.stderr, /unknown option '--jsn'.*Did you mean --json\?/);
});

Deno.test("start in the background, start again, status, port clash, stop", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "vm-cli-" });
  const otherDataDir = await Deno.makeTempDir({ prefix: "vm-cli-other-" });
  const port = freePort();
  try {
    const started = await runVm(["pkg", "start", "--port", String(port), "--data", dataDir]);
    assert.equal(started.code, 0, started.stderr);
    assert.match(
      started.stdout,
      new RegExp(`running at http://127\\.0\\.0\\.1:${port} \\(pid \\d+\\)`),
    );
    const health = await fetch(`http://127.0.0.1:${port}/-/health`).then((r) => r.json());
    assert.ok(health.ok);
    assert.notEqual(health.pid, Deno.pid);

    // Loopback only: the listening socket is bound to 127.0.0.1, not every interface.
    // Loopback, plus the Docker bridge's gateway when this machine has one; never 0.0.0.0.
    assert.deepEqual(
      (await boundAddresses(port)).sort(),
      ["127.0.0.1", ...dockerBridgeAddresses()].sort(),
    );

    const again = await runVm(["pkg", "start", "--port", String(port), "--data", dataDir]);
    assert.equal(again.code, 0);
    assert.match(again.stdout, new RegExp(`already running .*pid ${health.pid}`));

    const clash = await runVm(["pkg", "start", "--port", String(port), "--data", otherDataDir]);
    assert.equal(clash.code, 1);
    assert.match(
      clash.stderr,
      new RegExp(`^vm: error: port ${port} on 127\\.0\\.0\\.1 is already in use`),
    );

    const json = await runVm(["pkg", "status", "--json", "--data", dataDir]);
    assert.equal(json.code, 0);
    const status = JSON.parse(json.stdout);
    assert.equal(status.running, true);
    assert.equal(status.pid, health.pid);
    assert.equal(status.url, `http://127.0.0.1:${port}`);
    assert.equal(typeof status.ecosystems.npm.cacheHits, "number");

    const human = await runVm(["pkg", "status", "--data", dataDir]);
    for (
      const label of [
        "running",
        "URL:",
        "PID:",
        "Uptime:",
        "Metadata:",
        "Cached:",
        "Hit ratio:",
        "Upstream:",
        "Saved:",
      ]
    ) {
      assert.match(human.stdout, new RegExp(label));
    }

    // Any registry by URL, whatever the data dir says (here: one that has none running).
    const remote = await runVm([
      "pkg",
      "status",
      "--json",
      "--server",
      `http://127.0.0.1:${port}`,
      "--data",
      otherDataDir,
    ]);
    assert.equal(remote.code, 0, remote.stderr);
    assert.equal(JSON.parse(remote.stdout).pid, health.pid);
    const nobody = await runVm(["pkg", "status", "--server", `http://127.0.0.1:${freePort()}`]);
    assert.equal(nobody.code, 3);
    assert.match(nobody.stdout, /^vm pkg: not running \(.+\)\n$/);

    const stopped = await runVm(["pkg", "stop", "--data", dataDir]);
    assert.equal(stopped.code, 0);
    assert.match(stopped.stdout, /stopped/);
    await assert.rejects(fetch(`http://127.0.0.1:${port}/-/health`));
    const after = await runVm(["pkg", "status", "--data", dataDir]);
    assert.equal(after.code, 3);
    assert.match(after.stdout, /not running/);
    const stopAgain = await runVm(["pkg", "stop", "--data", dataDir]);
    assert.equal(stopAgain.code, 0);
    assert.match(stopAgain.stdout, /not running/);
  } finally {
    await runVm(["pkg", "stop", "--data", dataDir]);
    await Deno.remove(dataDir, { recursive: true });
    await Deno.remove(otherDataDir, { recursive: true });
  }
});

Deno.test("a stale pid file is cleaned up and does not block start", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "vm-cli-stale-" });
  const port = freePort();
  try {
    await Deno.writeTextFile(
      join(dataDir, "server.json"),
      JSON.stringify({
        pid: 999_999_9,
        url: `http://127.0.0.1:${port}`,
        hostname: "127.0.0.1",
        port,
      }),
    );
    const status = await runVm(["pkg", "status", "--data", dataDir]);
    assert.equal(status.code, 3);
    const started = await runVm(["pkg", "start", "--port", String(port), "--data", dataDir]);
    assert.equal(started.code, 0, started.stderr);
    const record = JSON.parse(await Deno.readTextFile(join(dataDir, "server.json")));
    assert.notEqual(record.pid, 999_999_9);
  } finally {
    await runVm(["pkg", "stop", "--data", dataDir]);
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("stop lets a download in flight complete; nothing partial is left", async () => {
  const upstream = startStandInUpstream({ size: 1024 * 1024, trickleMs: 25 }); // ~1.6 s
  const dataDir = await Deno.makeTempDir({ prefix: "vm-cli-stop-" });
  const port = freePort();
  try {
    await startInBackground(port, dataDir, upstream.url);
    upstream.fault = "trickle";
    const url = `http://127.0.0.1:${port}/npm/${upstream.name}/-/${upstream.filename}`;
    const download = fetch(url).then(readBody);
    while (upstream.tarballRequests === 0) await new Promise((r) => setTimeout(r, 20));
    const stopped = await runVm(["pkg", "stop", "--data", dataDir]);
    assert.match(stopped.stdout, /stopped/);
    assert.deepEqual(await download, upstream.tarball);
    assert.deepEqual(await tempFiles(dataDir), []);

    // The completed download is in the cache: served without asking the upstream again.
    await withRegistry({ dataDir, upstreams: { npm_upstream: upstream.url } }, async (registry) => {
      const body = await readBody(
        await fetch(`${registry.npmUrl}/${upstream.name}/-/${upstream.filename}`),
      );
      assert.deepEqual(body, upstream.tarball);
      assert.equal(upstream.tarballRequests, 1);
    });
  } finally {
    await runVm(["pkg", "stop", "--data", dataDir]);
    await upstream.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("kill -9 during a download leaves nothing that would be served", async () => {
  const upstream = startStandInUpstream({ size: 1024 * 1024, trickleMs: 25 });
  const dataDir = await Deno.makeTempDir({ prefix: "vm-cli-crash-" });
  const port = freePort();
  try {
    await startInBackground(port, dataDir, upstream.url);
    const { pid } = JSON.parse(await Deno.readTextFile(join(dataDir, "server.json")));
    upstream.fault = "trickle";
    const url = `http://127.0.0.1:${port}/npm/${upstream.name}/-/${upstream.filename}`;
    const download = fetch(url).then(readBody);
    while (upstream.tarballRequests === 0) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 200));
    Deno.kill(pid, "SIGKILL");
    await assert.rejects(download); // cut off, never a complete unverified body
    assert.ok((await tempFiles(dataDir)).length > 0, "the crash should leave a partial temp file");

    // Restarted: the partial file is discarded, and the tarball is fetched again, whole.
    upstream.fault = "none";
    await withRegistry({ dataDir, upstreams: { npm_upstream: upstream.url } }, async (registry) => {
      assert.deepEqual(await tempFiles(dataDir), []);
      const body = await readBody(
        await fetch(`${registry.npmUrl}/${upstream.name}/-/${upstream.filename}`),
      );
      assert.deepEqual(body, upstream.tarball);
      assert.equal(upstream.tarballRequests, 2);
    });
  } finally {
    await upstream.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("Ctrl-C on `deno task vm pkg start --foreground` drains downloads; a later one forces", async () => {
  const upstream = startStandInUpstream({ size: 1024 * 1024, trickleMs: 25 }); // ~1.6 s
  const root = await Deno.makeTempDir({ prefix: "vm-cli-ctrl-c-" });
  const port = freePort();
  const repo = new URL("../..", import.meta.url).pathname;
  // As a terminal runs it: deno task and the server in one process group of their own.
  const start = (dataDir: string) =>
    new Deno.Command("setsid", {
      args: [
        Deno.execPath(),
        "task",
        "--quiet",
        "vm",
        "pkg",
        "start",
        "--foreground",
        "--no-config",
        "--no-bridge",
        `--port=${port}`,
        `--data=${dataDir}`,
        `--npm-upstream=${upstream.url}`,
      ],
      cwd: repo,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { VM_PKG_CONFIG: join(dataDir, "none.yaml") },
    }).spawn();
  const url = `http://127.0.0.1:${port}/npm/${upstream.name}/-/${upstream.filename}`;
  const serverPid = async (dataDir: string) => {
    for (let i = 0; i < 300; i++) {
      try {
        return JSON.parse(await Deno.readTextFile(join(dataDir, "server.json"))).pid as number;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    throw new Error("the server did not start");
  };
  /** What a Ctrl-C does: SIGINT to the group, and deno task may pass it on once more. */
  const ctrlC = async (task: Deno.ChildProcess, server: number) => {
    const group = await new Deno.Command("kill", { args: ["-INT", "--", `-${task.pid}`] }).output();
    assert.equal(group.code, 0);
    Deno.kill(server, "SIGINT");
  };
  try {
    upstream.fault = "trickle";
    const dataDir = join(root, "first");
    const task = start(dataDir);
    const server = await serverPid(dataDir);
    const download = fetch(url).then(readBody);
    while (upstream.tarballRequests === 0) await new Promise((r) => setTimeout(r, 20));
    await ctrlC(task, server);
    assert.deepEqual(await download, upstream.tarball, "the download in flight completed");
    const output = await task.output();
    const log = new TextDecoder().decode(output.stderr) + new TextDecoder().decode(output.stdout);
    assert.doesNotMatch(log, /again: exiting without waiting/);
    assert.match(log, /SIGINT received: finishing in-flight/);
    assert.deepEqual(await tempFiles(dataDir), []);

    // A second press, a moment later, means "now": the download in flight is cut off.
    const secondDir = join(root, "second");
    const again = start(secondDir);
    const secondServer = await serverPid(secondDir);
    const cut = fetch(url).then(readBody);
    while (upstream.tarballRequests < 2) await new Promise((r) => setTimeout(r, 20));
    await ctrlC(again, secondServer);
    await new Promise((r) => setTimeout(r, 1200));
    Deno.kill(secondServer, "SIGINT");
    await assert.rejects(cut);
    const forced = await again.output();
    assert.match(new TextDecoder().decode(forced.stderr), /SIGINT again: exiting without waiting/);
  } finally {
    for (const dir of ["first", "second"]) await runVm(["pkg", "stop", "--data", join(root, dir)]);
    await upstream.close();
    await Deno.remove(root, { recursive: true });
  }
});

async function startInBackground(port: number, dataDir: string, npmUpstream: string) {
  const args = ["pkg", "start", "--port", String(port), "--data", dataDir];
  const started = await runVm([...args, "--npm-upstream", npmUpstream]);
  assert.equal(started.code, 0, started.stderr);
}

/** The local address a TCP port listens on, from /proc/net/tcp (Linux). */
async function boundAddresses(port: number): Promise<string[]> {
  const table = await Deno.readTextFile("/proc/net/tcp");
  const addresses: string[] = [];
  for (const line of table.split("\n").slice(1)) {
    const [, local, , state] = line.trim().split(/\s+/);
    if (!local || state !== "0A") continue; // 0A = LISTEN
    const [hexAddress, hexPort] = local.split(":");
    if (parseInt(hexPort, 16) !== port) continue;
    const bytes = hexAddress.match(/../g)!.map((b) => parseInt(b, 16)).reverse();
    addresses.push(bytes.join("."));
  }
  return addresses;
}
