// Go in VMs with `package_registry: true`, on the real Docker engine: the VM's go (Debian
// bookworm's golang-go 1.19) downloads, tidies and builds a project with four real dependencies
// through the host registry, on a network with no outside access (so nothing can come from
// anywhere else), checking every module against the checksum database through it. A second VM,
// with its own empty module cache, then makes 0 upstream requests.
import assert from "node:assert/strict";
import { join } from "node:path";
import { freePort } from "../support/cli.ts";
import {
  BASE_IMAGE,
  createInternalNetwork,
  docker,
  dockerRequired,
  dockerTestGate,
  newTestId,
  registryStatus,
  removeTestObjects,
  vmCli,
} from "../support/docker.ts";
import { withTempDir } from "../support/process.ts";
import { GO_MOD, MAIN_GO } from "../support/go_project.ts";

const { skip, available } = await dockerTestGate("the Go VM test");

/** Whether the VMs' image (the base image every VM test uses) has go: older builds lack it. */
async function baseImageHasGo(): Promise<boolean> {
  const probe = await docker(["run", "--rm", "--network", "none", BASE_IMAGE, "go", "version"]);
  return probe.code === 0;
}

Deno.test({
  name: "go in a VM downloads and builds through the host registry; a second VM makes 0 upstream",
  ignore: skip,
  sanitizeResources: false, // the registry runs as its own background process, stopped below
  async fn() {
    if (!available.ok) throw new Error(`Docker is required here: ${available.reason}`);
    if (!await baseImageHasGo()) {
      const why = `${BASE_IMAGE} has no go (it was built before golang-go was added): ` +
        "rebuild with scripts/build_base_image.sh --rebuild";
      if (dockerRequired()) throw new Error(why);
      console.warn(`skipping the Go VM test: ${why}`);
      return;
    }
    await withTempDir(async (dir) => {
      const id = newTestId();
      const network = `vm-go-${id}`;
      const env = { VM_PKG_DATA: join(dir, "registry"), VM_PKG_CONFIG: join(dir, "pkg.yaml") };
      const vm = vmCli(env);
      await Deno.writeTextFile(env.VM_PKG_CONFIG, `port: ${freePort()}\n`);
      const workspaces = ["first", "second"].map((name) => ({
        name: `go-${name}-${id}`,
        path: join(dir, name),
      }));
      await createInternalNetwork(network, { testId: id });
      try {
        for (const w of workspaces) {
          await Deno.mkdir(w.path);
          await Deno.writeTextFile(
            join(w.path, "vm.yaml"),
            [
              `name: ${w.name}`,
              "package_registry: true",
              `network: ${network}`,
              "",
            ].join("\n"),
          );
          await Deno.writeTextFile(join(w.path, "go.mod"), GO_MOD);
          await Deno.writeTextFile(join(w.path, "main.go"), MAIN_GO);
        }
        const started = await vm(dir, ["pkg", "start"]);
        assert.equal(started.code, 0, started.stderr);

        const upstream: number[] = [];
        for (const w of workspaces) {
          const created = await vm(w.path, ["create"]);
          assert.equal(created.code, 0, created.stderr);
          // A login shell, as `vm ssh` opens: the go wrapper first on PATH, the user's go env
          // file naming the registry; no go.sum, so every module is checked against the
          // checksum database (through the registry too).
          const build = await vm(w.path, [
            "exec",
            "--",
            "bash",
            "-lc",
            "go env GOPROXY && go mod download && go mod tidy && go build -o app . && ./app",
          ]);
          assert.equal(build.code, 0, `${w.name}: ${build.stdout}\n${build.stderr}`);
          const lines = build.stdout.trim().split("\n");
          assert.match(lines[0], /^http:\/\/host\.docker\.internal:\d+\/go$/);
          assert.equal(
            lines.at(-1),
            "Hello Vm e5e61fb5-d685-5b50-9ba7-acb6e6962ef3 outer: inner",
          );
          const status = await registryStatus(env.VM_PKG_DATA);
          upstream.push(status.ecosystems.go.upstreamRequests);
          console.log(
            `go VM (${w.name}): create ${created.ms} ms, download+tidy+build ${build.ms} ms, ` +
              `${status.ecosystems.go.upstreamRequests} upstream requests so far`,
          );
        }
        assert.ok(upstream[0] >= 12, `the first VM fetched through the registry: ${upstream[0]}`);
        assert.equal(upstream[1], upstream[0], "the second VM made no upstream request");
      } finally {
        for (const w of workspaces) await vm(w.path, ["destroy", "--force"]);
        await vm(dir, ["pkg", "stop"]);
        await removeTestObjects(id);
      }
    });
  },
});
