// Go modules through the registry: the real go command against the real module proxy
// (proxy.golang.org, which also passes the checksum database through).
import assert from "node:assert/strict";
import { join } from "node:path";
import { freePort, runVm } from "../support/cli.ts";
import { hasProgram, runProcess } from "../support/process.ts";
import { readBody, tempFiles, type TestRegistry, withRegistry } from "../support/registry.ts";
import { GO_MOD, MAIN_GO } from "../support/go_project.ts";

const goMissing = !(await hasProgram("go", ["version"]));
if (goMissing) console.warn("skipping the Go tests: go is not installed");

async function goCounters(registry: TestRegistry) {
  return (await registry.status()).ecosystems.go;
}

/** What go.sum must hold, as the go command computed it straight from proxy.golang.org. */
const GO_SUM = [
  "github.com/google/uuid v1.6.0 h1:NIvaJDMOsjHA8n1jAhLSgzrAzy1Hgr+hNrb57e+94F0=",
  "github.com/google/uuid v1.6.0/go.mod h1:TIyPZe4MgqvfeYDBFedMoGGpEw/LqOeaOT+nhxU+yHo=",
  "github.com/pkg/errors v0.9.1 h1:FEBLx1zS214owpjy7qsBeixbURkuhQAwrK5UwLGTwt4=",
  "github.com/pkg/errors v0.9.1/go.mod h1:bwawxfHBFNV+L2hUp1rHADufV3IMtnDRdf1r5NINEl0=",
  "github.com/spf13/pflag v1.0.5 h1:iy+VFUOCP1a+8yFto/drg2CJ5u0yRoB7fZw3DKv/JXA=",
  "github.com/spf13/pflag v1.0.5/go.mod h1:McXfInJRrz4CZXVZOBLb0bTZqETkiAhM9Iw0y3An2Bg=",
  "golang.org/x/text v0.3.8 h1:nAL+RVCQ9uMn3vJZbV+MRnydTJFPf8qqY42YiA6MrqY=",
  "golang.org/x/text v0.3.8/go.mod h1:E6s5w1FMmriuDzIBO73fBruAKo1PCIq6d2Q6DHfQ8WQ=",
];

/**
 * The go command with a module cache and checksum-database state of its own (a new GOPATH is a
 * new VM), the registry as its only proxy, and the checksum database checked through it.
 */
function go(args: string[], cwd: string, gopath: string, proxy: string, gocache: string) {
  return runProcess("go", args, {
    cwd,
    clearEnv: true,
    env: {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: gopath,
      GOPATH: gopath,
      GOMODCACHE: join(gopath, "pkg", "mod"),
      GOCACHE: gocache,
      GOFLAGS: "-modcacherw",
      GOTOOLCHAIN: "local",
      GOENV: "off",
      GOPROXY: proxy,
      GOSUMDB: "sum.golang.org",
    },
  });
}

/**
 * One fresh run, as in a new VM: no go.sum yet (so the go command checks every module against
 * the checksum database, through the registry), then download, tidy, build and run.
 */
async function freshRun(project: string, gopath: string, proxy: string, gocache: string) {
  await Deno.remove(join(project, "go.sum")).catch(() => {});
  for (const args of [["mod", "download"], ["mod", "tidy"], ["build", "-o", "app", "."]]) {
    const result = await go(args, project, gopath, proxy, gocache);
    assert.equal(result.code, 0, `go ${args.join(" ")}: ${result.stderr}`);
  }
  const run = await runProcess(join(project, "app"), ["--name", "go"]);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout.trim(), "Hello Go e5e61fb5-d685-5b50-9ba7-acb6e6962ef3 outer: inner");
  return await Deno.readTextFile(join(project, "go.sum"));
}

Deno.test({
  name:
    "go mod download and go build through the cache; a new module cache makes 0 upstream requests",
  ignore: goMissing,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "vm-go-" });
    try {
      await withRegistry({}, async (registry) => {
        const project = join(dir, "project");
        await Deno.mkdir(project);
        await Deno.writeTextFile(join(project, "go.mod"), GO_MOD);
        await Deno.writeTextFile(join(project, "main.go"), MAIN_GO);
        const proxy = `${registry.url}/go`;
        const gocache = join(dir, "gocache");

        const coldSum = await freshRun(project, join(dir, "gopath1"), proxy, gocache);
        assert.equal(coldSum.trim(), GO_SUM.join("\n"));
        const afterCold = await goCounters(registry);
        // 4 modules' .mod and .zip, their 4 checksum records, tiles: at least 12.
        assert.ok(afterCold.upstreamRequests >= 12, `${afterCold.upstreamRequests} upstream`);
        assert.equal(afterCold.packages, 4);

        const warmSum = await freshRun(project, join(dir, "gopath2"), proxy, gocache);
        assert.equal(warmSum, coldSum);
        const afterWarm = await goCounters(registry);
        assert.equal(afterWarm.upstreamRequests, afterCold.upstreamRequests);
        assert.ok(afterWarm.cacheHits - afterCold.cacheHits >= 12);
        console.log(
          `go on the host: first run ${afterCold.upstreamRequests} upstream requests ` +
            `(${afterCold.requests} requests), second run with a new module cache ` +
            `${afterWarm.upstreamRequests - afterCold.upstreamRequests} upstream ` +
            `(${afterWarm.requests - afterCold.requests} requests, ` +
            `${afterWarm.cacheHits - afterCold.cacheHits} hits)`,
        );
        assert.deepEqual(await tempFiles(registry.dataDir), []);
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "`vm pkg start` in the background, days later: a new module cache waits for no upstream",
  ignore: goMissing,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "vm-go-days-" });
    const env = {
      VM_PKG_DATA: join(dir, "data"),
      VM_PKG_CONFIG: join(dir, "pkg.yaml"),
      VM_PKG_TEST_CLOCK: "1",
    };
    const vm = async (...args: string[]) => {
      const result = await runVm(args, env);
      assert.equal(result.code, 0, `vm ${args.join(" ")}: ${result.stderr}`);
    };
    const port = freePort();
    const url = `http://127.0.0.1:${port}`;
    const status = async () =>
      (await (await fetch(`${url}/-/status`)).json()).ecosystems.go as {
        upstreamRequests: number;
        backgroundRequests: number;
      };
    try {
      await Deno.writeTextFile(join(dir, "pkg.yaml"), `port: ${port}\n`);
      await vm("pkg", "start", "--no-config", "--no-bridge");
      const project = join(dir, "project");
      await Deno.mkdir(project);
      await Deno.writeTextFile(join(project, "go.mod"), GO_MOD);
      await Deno.writeTextFile(join(project, "main.go"), MAIN_GO);
      const gocache = join(dir, "gocache");
      const first = await freshRun(project, join(dir, "gopath1"), `${url}/go`, gocache);
      const cold = await status();

      // Two days pass: every version list, lookup and tile is past its TTL (5 minutes), within
      // metadata_max_stale (3 days). A new VM's go command gets them from the cache at once.
      const token = (await Deno.readTextFile(join(dir, "data", "token"))).trim();
      const moved = await fetch(`${url}/-/test/clock`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}` },
        body: JSON.stringify({ advanceSeconds: 2 * 86400 }),
      });
      assert.equal(moved.status, 200, await moved.text());
      const later = await freshRun(project, join(dir, "gopath2"), `${url}/go`, gocache);
      assert.equal(later, first);
      const warm = await status();
      const waitedFor = (counters: typeof cold) =>
        counters.upstreamRequests - counters.backgroundRequests;
      assert.equal(waitedFor(warm), waitedFor(cold), "no upstream request on the client's path");
      console.log(
        `go two days later: ${waitedFor(warm) - waitedFor(cold)} upstream requests waited for, ` +
          `${warm.backgroundRequests - cold.backgroundRequests} background refreshes`,
      );
    } finally {
      await runVm(["pkg", "stop"], env);
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("the GOPROXY protocol against proxy.golang.org: bytes, escaping, errors", async () => {
  await withRegistry({}, async (registry) => {
    const base = `${registry.url}/go`;
    // The .zip and .mod byte for byte, the .info parsed, the list with this version.
    for (const file of ["v1.3.2.zip", "v1.3.2.mod", "v1.3.2.info"]) {
      const path = `github.com/!burnt!sushi/toml/@v/${file}`;
      const ours = await fetch(`${base}/${path}`);
      assert.equal(ours.status, 200, file);
      const theirs = await fetch(`https://proxy.golang.org/${path}`);
      assert.deepEqual(await readBody(ours), await readBody(theirs), file);
    }
    const list = await (await fetch(`${base}/github.com/!burnt!sushi/toml/@v/list`)).text();
    assert.match(list, /^v1\.3\.2$/m);
    const lookup = await (await fetch(
      `${base}/sumdb/sum.golang.org/lookup/github.com/!burnt!sushi/toml@v1.3.2`,
    )).text();
    assert.match(lookup, /^github\.com\/BurntSushi\/toml v1\.3\.2 h1:/m);
    assert.match(lookup, /\n\n\u2014 sum\.golang\.org /);
    const supported = await fetch(`${base}/sumdb/sum.golang.org/supported`);
    assert.equal(supported.status, 200);
    await supported.body?.cancel();
    const counters = await goCounters(registry);
    assert.equal(counters.packages, 1);

    // A second time: every file from the store.
    for (const file of ["v1.3.2.zip", "v1.3.2.mod", "v1.3.2.info"]) {
      await readBody(await fetch(`${base}/github.com/!burnt!sushi/toml/@v/${file}`));
    }
    assert.equal((await goCounters(registry)).upstreamRequests, counters.upstreamRequests);

    // Unescaped uppercase, a version that is not canonical, a module path without a dot.
    for (
      const [path, status, message] of [
        ["github.com/BurntSushi/toml/@v/list", 400, /invalid escaped module path/],
        ["github.com/!burnt!sushi/toml/@v/v1.3.zip", 400, /not canonical/],
        ["toml/@v/list", 400, /missing dot/],
        ["github.com/!burnt!sushi/toml/@v/v1.3.2.tgz", 404, /not a GOPROXY path/],
      ] as const
    ) {
      const response = await fetch(`${base}/${path}`);
      assert.equal(response.status, status, path);
      assert.equal(response.headers.get("content-type"), "text/plain; charset=utf-8");
      assert.match(await response.text(), message);
    }
    const put = await fetch(`${base}/github.com/google/uuid/@v/list`, { method: "PUT", body: "x" });
    assert.equal(put.status, 405);
    await put.body?.cancel();
  });
});

Deno.test({
  name: "vm pkg exec go mod download goes through the registry (GOPROXY from the descriptor)",
  ignore: goMissing,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "vm-go-exec-" });
    try {
      await withRegistry({}, async (registry) => {
        const result = await runVm([
          "pkg",
          "exec",
          "--url",
          registry.url,
          "go",
          "mod",
          "download",
          "-json",
          "github.com/pkg/errors@v0.9.1",
        ], {
          HOME: dir,
          GOPATH: join(dir, "gopath"),
          GOMODCACHE: join(dir, "gopath", "pkg", "mod"),
          GOFLAGS: "-modcacherw",
          GOTOOLCHAIN: "local",
          GOENV: "off",
          GONOSUMDB: "",
          GOPRIVATE: "",
          GONOPROXY: "",
          GOSUMDB: "sum.golang.org",
          GOPROXY: "off", // replaced by `vm pkg exec`: with "off" the go command fetches nothing
        });
        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stdout, /"Sum": "h1:FEBLx1zS214owpjy7qsBeixbURkuhQAwrK5UwLGTwt4="/);
        const counters = await goCounters(registry);
        assert.equal(counters.packages, 1, "the module's files are in the cache");
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
