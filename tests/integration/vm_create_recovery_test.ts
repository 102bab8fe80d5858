// `vm create` after things went wrong, on the real Docker engine: Docker's own reason reaches the
// user, a VM that cannot start is never reported as created, and running `vm create` again after
// fixing vm.yaml gives a working VM. Also: a VM whose setup did not finish is set up by the next
// `vm create`, an edited vm.yaml is pointed out, and a VM that exists but can no longer start says
// how to make it anew. No registry: these are about the container, and stay quick.
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  createNetwork,
  docker,
  dockerOk,
  dockerTestGate,
  newTestId,
  removeTestObjects,
  vmCli,
} from "../support/docker.ts";
import { withTempDir } from "../support/process.ts";

const { skip, available } = await dockerTestGate("the VM create recovery test");

Deno.test({
  name: "vm create reports Docker's reason, keeps no broken VM, and recovers on the next run",
  ignore: skip,
  async fn() {
    if (!available.ok) throw new Error(`Docker is required here: ${available.reason}`);
    await withTempDir(async (dir) => {
      const id = newTestId();
      const name = `recovery-${id}`;
      const container = `vm-${name}`;
      const missing = `vm-missing-${id}`;
      const vm = vmCli({
        VM_PKG_DATA: join(dir, "registry"),
        VM_PKG_CONFIG: join(dir, "pkg.yaml"),
      });
      const yaml = (lines: string[]) =>
        Deno.writeTextFile(join(dir, "vm.yaml"), [`name: ${name}`, ...lines, ""].join("\n"));
      const exists = async () => (await docker(["container", "inspect", container])).code === 0;
      try {
        // A network that does not exist: Docker's reason, a failure, and nothing left behind.
        await yaml([`network: ${missing}`]);
        const failed = await vm(dir, ["create"]);
        assert.notEqual(failed.code, 0);
        assert.match(failed.stderr, new RegExp(`network ${missing} not found`));
        assert.doesNotMatch(failed.stdout, /created/);
        assert.equal(await exists(), false, "a container that cannot start is removed");

        // What an earlier version left behind: a container that never started.
        await dockerOk(
          ["create", "--name", container, "--network", missing, "vm-base:bookworm", "true"],
          "creating a never-started container",
        );
        await yaml([]);
        const fixed = await vm(dir, ["create"]);
        assert.equal(fixed.code, 0, fixed.stderr);
        assert.match(fixed.stderr, /never started; creating it again/);
        assert.match(fixed.stdout, new RegExp(`created ${container}`));
        const ran = await vm(dir, ["exec", "--", "true"]);
        assert.equal(ran.code, 0, ran.stderr);

        // Provisioning that did not finish is finished by the next `vm create`.
        await dockerOk(
          ["exec", container, "rm", "/usr/local/lib/vm/provisioned"],
          "taking the marker away",
        );
        const finished = await vm(dir, ["create"]);
        assert.equal(finished.code, 0, finished.stderr);
        assert.match(finished.stderr, /not fully set up; setting it up now/);
        const again = await vm(dir, ["create"]);
        assert.equal(again.code, 0, again.stderr);
        assert.match(again.stdout, /already exists and runs/);

        // An edited vm.yaml is pointed out: only recreating applies it.
        await yaml(["environment:", "  FOO: bar"]);
        const changed = await vm(dir, ["create"]);
        assert.equal(changed.code, 0, changed.stderr);
        assert.match(
          changed.stderr,
          /changed since .* was created; .*vm destroy --force && vm create/,
        );

        // A VM that exists but can no longer start (its network is gone): an error with the way
        // out, never "already exists".
        const network = `vm-recovery-net-${id}`;
        await createNetwork(network, id);
        await dockerOk(["network", "connect", network, container], "connecting the VM");
        await dockerOk(["stop", "--time", "0", container], "stopping the VM");
        await dockerOk(["network", "rm", network], "removing its network");
        const broken = await vm(dir, ["create"]);
        assert.notEqual(broken.code, 0);
        assert.match(broken.stderr, /not found; recreate it: vm destroy --force && vm create/);
        assert.equal(await exists(), true, "an existing VM is never removed by vm create");
      } finally {
        await vm(dir, ["destroy", "--force"]);
        await removeTestObjects(id);
      }
    });
  },
});
