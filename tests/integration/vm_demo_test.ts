// The multi-VM demonstration, end to end with a real Docker engine: two VMs from the locally
// built base image, on a Docker network with no outside access, both install the same real npm,
// pip and cargo packages through the host registry (which `vm create` starts itself). The first
// VM's installs come from the public registries through the registry; the second VM's must make
// 0 upstream requests. Prints the bandwidth saved.
import assert from "node:assert/strict";
import { join } from "node:path";
import { selfCommand } from "../../src/daemon/self_command.ts";
import type { RegistryStatus } from "../../src/registry/server.ts";
import { freePort } from "../support/cli.ts";
import {
  createInternalNetwork,
  dockerAvailable,
  dockerRequired,
  removeNetwork,
} from "../support/docker.ts";
import { runProcess, withTempDir } from "../support/process.ts";

const available = await dockerAvailable();
// Where Docker is required (CI), a missing engine or image fails the test instead of skipping it.
const skip = !available.ok && !dockerRequired();
if (skip && !available.ok) console.warn(`skipping the multi-VM test: ${available.reason}`);

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

type Totals = { upstreamRequests: number; upstreamBytes: number; servedBytes: number };

function totals(status: RegistryStatus): Totals {
  const sum = (pick: (e: RegistryStatus["ecosystems"][string]) => number) =>
    Object.values(status.ecosystems).reduce((n, e) => n + pick(e), 0);
  return {
    upstreamRequests: sum((e) => e.upstreamRequests),
    upstreamBytes: sum((e) => e.upstreamBytes),
    servedBytes: sum((e) => e.servedBytes),
  };
}

Deno.test({
  name: "two VMs install the same packages; the second makes 0 upstream requests",
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
      const vm = async (cwd: string, args: string[]) => {
        const { command, args: full } = selfCommand(args);
        const result = await runProcess(command, full, { cwd, env });
        return result;
      };
      await Deno.writeTextFile(env.VM_PKG_CONFIG, `port: ${freePort()}\n`);
      await createInternalNetwork(network);
      const projects = ["a", "b"].map((name) => join(dir, name));
      try {
        for (const [i, project] of projects.entries()) {
          await Deno.mkdir(project);
          await Deno.writeTextFile(join(project, "vm.yaml"), vmYaml(`demo-${id}-${i}`, network));
        }
        // The first VM: no registry runs yet, so `vm create` (not on a terminal) starts it.
        const first = await vm(projects[0], ["create"]);
        assert.equal(first.code, 0, first.stderr);
        assert.match(first.stderr, /starting the package registry/);
        const status = async () => {
          const record = JSON.parse(await Deno.readTextFile(join(env.VM_PKG_DATA, "server.json")));
          return totals(await (await fetch(`${record.url}/-/status`)).json());
        };
        const afterFirst = await status();
        assert.ok(afterFirst.upstreamRequests > 10, `only ${afterFirst.upstreamRequests} upstream`);

        const second = await vm(projects[1], ["create"]);
        assert.equal(second.code, 0, second.stderr);
        assert.doesNotMatch(second.stderr, /starting the package registry/);
        const afterSecond = await status();
        assert.equal(afterSecond.upstreamRequests, afterFirst.upstreamRequests, "second VM");
        assert.equal(afterSecond.upstreamBytes, afterFirst.upstreamBytes);

        // What each VM installed works, and came from nowhere but the registry: the network
        // has no outside access.
        for (const project of projects) {
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
        const outside = await vm(projects[1], [
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

        const report = JSON.parse((await vm(projects[1], ["status", "--json"])).stdout);
        assert.equal(report.services.pkgRegistry.running, true);
        const link = report.vms[0].registryLink;
        assert.equal(link.connected, true);
        assert.equal(link.cacheMisses, 0, "the second VM's requests were all hits");
        assert.ok(link.cacheHits > 10);

        // Without the registry each VM downloads the same files from the public registries:
        // what the first VM's installs cost upstream, once per VM.
        const withoutRegistry = 2 * afterFirst.upstreamBytes;
        const saved = 1 - afterSecond.upstreamBytes / withoutRegistry;
        console.log(
          `multi-VM: VM 1: ${afterFirst.upstreamRequests} upstream requests, ` +
            `${mb(afterFirst.upstreamBytes)} upstream; VM 2: 0 upstream requests, 0 B upstream ` +
            `(${mb(afterSecond.servedBytes - afterFirst.servedBytes)} served from the cache). ` +
            `Two VMs: ${mb(afterSecond.upstreamBytes)} upstream instead of ${mb(withoutRegistry)}` +
            ` (${(saved * 100).toFixed(0)}% saved; with N VMs 1 - 1/N, e.g. 90% at 10)`,
        );
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
