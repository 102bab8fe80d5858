// The multi-VM demonstration, end to end with a real Docker engine: ten VMs from the locally
// built base image, created one after another on a Docker network with no outside access, all
// install the same real npm, pip and cargo packages through the host registry (which the first
// `vm create` starts itself, in the background, as users get it). The first VM's installs come
// from the public registries through the registry; VMs 2..10 must make 0 upstream requests, and
// the registry's own figure of the saving must reach 90%. Prints the figures.
import assert from "node:assert/strict";
import { join } from "node:path";
import { selfCommand } from "../../src/daemon/self_command.ts";
import { freePort } from "../support/cli.ts";
import {
  createInternalNetwork,
  dockerTestGate,
  registryStatus,
  removeNetwork,
  vmCli,
} from "../support/docker.ts";
import { runProcess, withTempDir } from "../support/process.ts";

const { skip, available } = await dockerTestGate("the multi-VM test");

const VM_COUNT = 10;
const PACKAGES = {
  npm: ["express@4.21.2"],
  pip: ["requests==2.32.3"],
  cargo: ["itoa@1", "serde@1"],
};

function vmYaml(name: string, network: string): string {
  return [
    `name: ${name}`,
    "package_registry: true",
    `network: ${network}`,
    `npm_packages: ${JSON.stringify(PACKAGES.npm)}`,
    `pip_packages: ${JSON.stringify(PACKAGES.pip)}`,
    `cargo_packages: ${JSON.stringify(PACKAGES.cargo)}`,
    "",
  ].join("\n");
}

Deno.test({
  name: `${VM_COUNT} VMs install the same packages; VMs 2..${VM_COUNT} make 0 upstream requests`,
  ignore: skip,
  sanitizeResources: false, // the registry runs as its own background process, stopped below
  async fn() {
    if (!available.ok) throw new Error(`Docker is required here: ${available.reason}`);
    await withTempDir(async (dir) => {
      const id = crypto.randomUUID().slice(0, 8);
      const network = `vm-demo-${id}`;
      const env = {
        VM_PKG_DATA: join(dir, "registry"),
        VM_PKG_CONFIG: join(dir, "pkg.yaml"),
      };
      const vm = vmCli(env);
      await Deno.writeTextFile(env.VM_PKG_CONFIG, `port: ${freePort()}\n`);
      await createInternalNetwork(network);
      const projects = Array.from({ length: VM_COUNT }, (_, i) => join(dir, `p${i + 1}`));
      const status = () => registryStatus(env.VM_PKG_DATA);
      try {
        for (const [i, project] of projects.entries()) {
          await Deno.mkdir(project);
          await Deno.writeTextFile(
            join(project, "vm.yaml"),
            vmYaml(`demo-${id}-${i + 1}`, network),
          );
        }
        // The first VM: no registry runs yet, so `vm create` (not on a terminal) starts it.
        const began = performance.now();
        const first = await vm(projects[0], ["create"]);
        assert.equal(first.code, 0, first.stderr);
        assert.match(first.stderr, /starting the package registry/);
        const afterFirst = (await status()).totals;
        assert.ok(afterFirst.upstreamRequests > 10, `only ${afterFirst.upstreamRequests} upstream`);
        const firstSeconds = (performance.now() - began) / 1000;

        const later: number[] = [];
        for (const [i, project] of projects.entries()) {
          if (i === 0) continue;
          const started = performance.now();
          const created = await vm(project, ["create"]);
          later.push((performance.now() - started) / 1000);
          assert.equal(created.code, 0, created.stderr);
          assert.doesNotMatch(created.stderr, /starting the package registry/);
          const now = (await status()).totals;
          assert.equal(
            now.upstreamRequests,
            afterFirst.upstreamRequests,
            `VM ${i + 1} went upstream`,
          );
          assert.equal(now.upstreamBytes, afterFirst.upstreamBytes, `VM ${i + 1}`);
          // The VM's own counters, as `vm status` shows them.
          const report = JSON.parse((await vm(project, ["status", "--json"])).stdout);
          const link = report.vms[0].registryLink;
          assert.equal(link.connected, true);
          assert.equal(link.cacheMisses, 0, `VM ${i + 1}'s requests were all hits`);
          assert.equal(link.upstreamBytes, 0);
          assert.equal(link.savingRatio, 1);
          assert.ok(link.cacheHits > 10);
        }

        // What the VMs installed works, and came from nowhere but the registry: the network
        // has no outside access.
        for (const project of [projects[0], projects[VM_COUNT - 1]]) {
          const python = await vm(project, [
            "exec",
            "--",
            "python3",
            "-c",
            "import requests; print(requests.__version__)",
          ]);
          assert.equal(python.stdout.trim(), "2.32.3", python.stderr);
          const npm = await vm(project, [
            "exec",
            "--",
            "node",
            "-e",
            "require(require('os').homedir() + '/.local/lib/node_modules/express')",
          ]);
          assert.equal(npm.code, 0, npm.stderr);
        }
        const outside = await vm(projects[VM_COUNT - 1], [
          "exec",
          "--",
          "curl",
          "-sS",
          "-m",
          "5",
          "-o",
          "/dev/null",
          "https://registry.npmjs.org/",
        ]);
        assert.notEqual(outside.code, 0, "the VMs' network must have no outside access");

        const totals = (await status()).totals;
        const shown = await vm(projects[VM_COUNT - 1], ["status"]);
        assert.equal(shown.code, 0, shown.stderr);
        assert.match(shown.stdout, /saved \d+\.\d% of upstream traffic/);
        assert.match(shown.stdout, /Traffic: .*\(100\.0% saved\)/);
        const pkgStatus = await vm(projects[VM_COUNT - 1], ["pkg", "status"]);
        assert.equal(pkgStatus.code, 0, pkgStatus.stderr);
        assert.match(pkgStatus.stdout, /Saved: +\d+\.\d% of upstream traffic/);
        console.log(
          `multi-VM: VM 1: ${afterFirst.upstreamRequests} upstream requests, ` +
            `${mb(afterFirst.upstreamBytes)} upstream, created in ${firstSeconds.toFixed(1)} s; ` +
            `VMs 2..${VM_COUNT}: 0 upstream requests, created in ` +
            `${Math.min(...later).toFixed(1)}-${Math.max(...later).toFixed(1)} s. ` +
            `${VM_COUNT} VMs: ${mb(totals.servedBytes)} served, ${mb(totals.upstreamBytes)} ` +
            `upstream where the VMs would have downloaded ${mb(totals.directBytes)}: ` +
            `${((totals.savingRatio ?? 0) * 100).toFixed(1)}% saved.\n${shown.stdout}\n` +
            pkgStatus.stdout,
        );
        assert.ok((totals.savingRatio ?? 0) >= 0.9, `saving ${totals.savingRatio} < 90%`);
      } finally {
        for (const project of projects) await vm(project, ["destroy", "--force"]);
        await vm(dir, ["pkg", "stop"]);
        await removeNetwork(network);
      }
    });
  },
});

function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

Deno.test({
  name: "vm pkg start --docker runs the registry in a container that restarts with Docker",
  ignore: skip,
  async fn() {
    if (!available.ok) throw new Error(`Docker is required here: ${available.reason}`);
    await withTempDir(async (dir) => {
      const env = { VM_PKG_DATA: join(dir, "registry"), VM_PKG_CONFIG: join(dir, "pkg.yaml") };
      const port = freePort();
      const vm = (args: string[]) => {
        const { command, args: full } = selfCommand(args);
        return runProcess(command, full, { cwd: dir, env });
      };
      try {
        const started = await vm(["pkg", "start", "--docker", "--port", String(port)]);
        assert.equal(started.code, 0, started.stderr);
        assert.match(started.stdout, /in container vm-pkg-registry/);
        const status = JSON.parse((await vm(["pkg", "status", "--json"])).stdout);
        assert.equal(status.running, true);
        assert.equal(status.url, `http://127.0.0.1:${port}`);
        const packument = await fetch(`http://127.0.0.1:${port}/npm/is-number`);
        assert.equal(packument.status, 200);
        assert.equal((await packument.json()).name, "is-number");
        // The data lives in the host's data dir, so it outlives the container.
        assert.ok((await Deno.stat(join(env.VM_PKG_DATA, "token"))).isFile);

        const restarted = await runProcess("docker", ["restart", "vm-pkg-registry"]);
        assert.equal(restarted.code, 0, restarted.stderr);
        let healthy = false;
        for (let i = 0; i < 100 && !healthy; i++) {
          healthy = (await vm(["pkg", "ping", "--url", `http://127.0.0.1:${port}`, "-q"]))
            .code === 0;
          if (!healthy) await new Promise((resolve) => setTimeout(resolve, 200));
        }
        assert.ok(healthy, "answers again after docker restart");
      } finally {
        const stopped = await vm(["pkg", "stop"]);
        assert.equal(stopped.code, 0, stopped.stderr);
        assert.match(stopped.stdout, /stopped \(container vm-pkg-registry\)/);
      }
      const gone = await runProcess("docker", ["container", "inspect", "vm-pkg-registry"]);
      assert.notEqual(gone.code, 0, "the container is removed");
    });
  },
});
