// The registry server's permission flags (src/daemon/server_sandbox.ts): what each way of
// listening and each upstream becomes, and what can never be granted.
import assert from "node:assert/strict";
import {
  serverHosts,
  serverPermissionFlags,
  upstreamsOf,
} from "../../src/daemon/server_sandbox.ts";

const sandbox = {
  dataDir: "/home/u/.local/share/vm/pkg",
  configFile: "/home/u/.config/vm/pkg.yaml",
  listen: ["127.0.0.1", "172.17.0.1"],
  port: 3080,
  upstreams: ["https://registry.npmjs.org", "http://mirror.example:8080/simple"],
  findsBridge: true,
};

Deno.test("the server's flags: its data dir, config file, listen addresses, upstreams; no run", () => {
  assert.deepEqual(serverPermissionFlags(sandbox), [
    "--no-prompt",
    "--allow-read=/home/u/.local/share/vm/pkg,/home/u/.config/vm/pkg.yaml",
    "--allow-write=/home/u/.local/share/vm/pkg",
    "--allow-net=127.0.0.1:3080,172.17.0.1:3080,registry.npmjs.org:443,mirror.example:8080",
    "--allow-env=VM_PKG_*,HOME,USERPROFILE,XDG_CONFIG_HOME,XDG_DATA_HOME,APPDATA,LOCALAPPDATA",
    "--ignore-env=LOG_TOKENS,LOG_STREAM",
    "--allow-sys=networkInterfaces",
  ]);
  const noBridge = serverPermissionFlags({ ...sandbox, findsBridge: false });
  assert.ok(!noBridge.some((flag) => flag.startsWith("--allow-sys")));
  assert.ok(!noBridge.some((flag) => flag.startsWith("--allow-run")));
});

Deno.test("listen and upstream hosts as --allow-net takes them", () => {
  assert.deepEqual(
    serverHosts({ listen: ["::1", "localhost"], port: 4873, upstreams: ["http://[::1]:9/npm"] }),
    ["[::1]:4873", "localhost:4873", "[::1]:9"],
  );
  // Port 0 picks a free port: the listen hosts on any port.
  assert.deepEqual(serverHosts({ listen: ["127.0.0.1"], port: 0, upstreams: [] }), ["127.0.0.1"]);
  // One host twice is granted once; upstream paths do not matter.
  assert.deepEqual(
    serverHosts({
      listen: [],
      port: 1,
      upstreams: ["https://pypi.org/simple", "https://pypi.org/other"],
    }),
    ["pypi.org:443"],
  );
  assert.throws(
    () => serverHosts({ listen: [], port: 1, upstreams: ["file:///etc/passwd"] }),
    /only http\(s\) upstreams/,
  );
});

Deno.test("a path with a comma cannot be granted (Deno splits the list there)", () => {
  assert.throws(
    () => serverPermissionFlags({ ...sandbox, dataDir: "/data,/etc" }),
    /a path with a comma/,
  );
});

Deno.test("an offline server fetches from nowhere; otherwise from each configured upstream", () => {
  assert.deepEqual(
    upstreamsOf({ offline: true, upstreams: { npm_upstream: "http://127.0.0.1:9" } }),
    [],
  );
  assert.deepEqual(upstreamsOf({ upstreams: { npm_upstream: "http://127.0.0.1:9" } }), [
    "http://127.0.0.1:9",
    "https://pypi.org/simple",
    "https://files.pythonhosted.org",
    "https://index.crates.io",
    "https://static.crates.io/crates",
    "https://proxy.golang.org",
  ]);
});
