// A VM's package clients when the host registry stops, on the real Docker engine: with the
// registry stopped, npm, pip (also as `python3 -m pip`), uv and cargo in the VM install from the
// public registries within seconds (no minute-long hang), through `vm exec`; once the registry
// answers again they go through it again and its counters rise. Login and interactive shells
// (what `vm ssh` opens) find the wrappers first on PATH. The VM sits on a Docker network the test
// creates, with outside access: the fallback needs the internet.
import assert from "node:assert/strict";
import { join } from "node:path";
import { FALLBACK_MESSAGE, HEALTH_TTL, WRAPPER_DIR } from "../../src/vm/client_wrappers.ts";
import type { RegistryStatus } from "../../src/registry/server.ts";
import { freePort } from "../support/cli.ts";
import {
  createNetwork,
  docker,
  dockerTestGate,
  newTestId,
  registryStatus,
  removeTestObjects,
  trustHostCertificates,
  vmCli,
} from "../support/docker.ts";
import { withTempDir } from "../support/process.ts";

const { skip, available } = await dockerTestGate("the VM fallback test");

function sleep(seconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, seconds * 1000));
}

/** Requests the registry was asked per ecosystem. */
function requests(status: RegistryStatus): Record<string, number> {
  return Object.fromEntries(
    Object.entries(status.ecosystems).map(([name, counters]) => [name, counters.requests]),
  );
}

Deno.test({
  name: "with the host registry down, npm, pip, uv and cargo in a VM use the public registries",
  ignore: skip,
  sanitizeResources: false, // the registry runs as its own background process, stopped below
  async fn() {
    if (!available.ok) throw new Error(`Docker is required here: ${available.reason}`);
    await withTempDir(async (dir) => {
      const id = newTestId();
      const network = `vm-fallback-${id}`;
      const name = `fallback-${id}`;
      const container = `vm-${name}`;
      const env = { VM_PKG_DATA: join(dir, "registry"), VM_PKG_CONFIG: join(dir, "pkg.yaml") };
      const vm = vmCli(env);
      const project = join(dir, "project");
      await Deno.mkdir(project);
      await Deno.writeTextFile(env.VM_PKG_CONFIG, `port: ${freePort()}\n`);
      await Deno.writeTextFile(
        join(project, "vm.yaml"),
        [
          `name: ${name}`,
          "package_registry: true",
          `network: ${network}`,
          // uv verifies https with its own roots unless told to read the system's (which
          // trustHostCertificates extends); the other clients read the system's already.
          "environment:",
          "  SSL_CERT_FILE: /etc/ssl/certs/ca-certificates.crt",
          "",
        ].join("\n"),
      );
      await createNetwork(network, id);
      try {
        const created = await vm(project, ["create"]);
        assert.equal(created.code, 0, created.stderr);
        assert.match(created.stderr, /starting the package registry/);
        console.log(`fallback: vm create ${created.ms} ms`);
        await trustHostCertificates(container);

        // What `vm ssh` opens (a login bash) and an interactive bash find the wrappers first.
        const login = await docker(["exec", "-i", container, "bash", "-l"], {
          stdin: "command -v npm pip cargo python3\n",
        });
        assert.deepEqual(
          login.stdout.trim().split("\n"),
          ["npm", "pip", "cargo", "python3"].map((c) => `${WRAPPER_DIR}/${c}`),
          login.stderr,
        );
        const interactive = await docker(["exec", container, "bash", "-ic", "command -v npm"]);
        assert.equal(interactive.stdout.trim().split("\n").pop(), `${WRAPPER_DIR}/npm`);

        // uv is not in the base image: installed into the VM user's venv, through the registry.
        const uv = await vm(project, [
          "exec",
          "--",
          "pip",
          "install",
          "-q",
          "--disable-pip-version-check",
          "uv==0.5.31",
        ]);
        assert.equal(uv.code, 0, uv.stderr);
        assert.doesNotMatch(uv.stderr, /does not answer/);

        const stopped = await vm(project, ["pkg", "stop"]);
        assert.equal(stopped.code, 0, stopped.stderr);
        // The wrappers trust the last "up" for a moment (pip's, above); then they ask again.
        await sleep(HEALTH_TTL.upSeconds);

        const installs = (
          packages: { npm: string; pip: string; modulePip: string; uv: string; crate: string },
        ) => [
          {
            client: "npm",
            script: "mkdir -p /tmp/npm-project && cd /tmp/npm-project && " +
              "{ [ -f package.json ] || npm init -y >/dev/null; } && " +
              `npm install --no-audit --no-fund ${packages.npm}`,
          },
          { client: "pip", script: `pip install --disable-pip-version-check ${packages.pip}` },
          {
            client: "python3 -m pip",
            script: `python3 -m pip install --disable-pip-version-check ${packages.modulePip}`,
          },
          {
            client: "uv",
            script: `uv pip install --python "$HOME/.venv/bin/python3" ${packages.uv}`,
          },
          {
            client: "cargo",
            script: "mkdir -p /tmp/crate/src && cd /tmp/crate && " +
              '{ [ -f Cargo.toml ] || printf \'[package]\\nname = "probe"\\nversion = "0.1.0"\\n' +
              'edition = "2021"\\n[dependencies]\\n\' > Cargo.toml; } && ' +
              "echo 'fn main() {}' > src/main.rs && " +
              `echo '${packages.crate}' >> Cargo.toml && cargo fetch`,
          },
        ];
        const run = async (step: { client: string; script: string }) => {
          const result = await vm(project, ["exec", "--", "bash", "-c", step.script]);
          assert.equal(result.code, 0, `${step.client}: ${result.stderr}`);
          return result;
        };

        // The registry is down: each client says so once and installs from the public registries.
        const down: string[] = [];
        for (
          const step of installs({
            npm: "is-number@7.0.0",
            pip: "six==1.16.0 --ignore-installed",
            modulePip: "idna==3.7",
            uv: "tomli==2.0.1",
            crate: 'itoa = "=1.0.11"',
          })
        ) {
          const result = await run(step);
          assert.ok(result.stderr.includes(FALLBACK_MESSAGE), `${step.client}: ${result.stderr}`);
          down.push(`${step.client} ${result.ms} ms`);
        }
        console.log(`fallback, registry down (public registries): ${down.join(", ")}`);

        const restarted = await vm(project, ["pkg", "start"]);
        assert.equal(restarted.code, 0, restarted.stderr);
        // The wrappers remember "down" for a few seconds; then they ask again.
        await sleep(HEALTH_TTL.downSeconds);
        const before = requests(await registryStatus(env.VM_PKG_DATA));
        const up: string[] = [];
        for (
          const step of installs({
            npm: "is-odd@3.0.1",
            pip: "iniconfig==2.0.0",
            modulePip: "toml==0.10.2",
            uv: "tomli-w==1.0.0",
            crate: 'ryu = "=1.0.18"',
          })
        ) {
          const result = await run(step);
          assert.doesNotMatch(result.stderr, /does not answer/, step.client);
          up.push(`${step.client} ${result.ms} ms`);
        }
        console.log(`fallback, registry up again (through it): ${up.join(", ")}`);
        const after = requests(await registryStatus(env.VM_PKG_DATA));
        for (const ecosystem of ["npm", "pypi", "cargo"]) {
          assert.ok(
            (after[ecosystem] ?? 0) > (before[ecosystem] ?? 0),
            `${ecosystem}: ${before[ecosystem]} → ${after[ecosystem]} requests`,
          );
        }
        console.log(
          `fallback: registry requests ${JSON.stringify(before)} → ${JSON.stringify(after)}`,
        );
      } finally {
        await vm(project, ["destroy", "--force"]);
        await vm(project, ["pkg", "stop"]);
        await removeTestObjects(id);
      }
    });
  },
});
