// Hostile and malformed input on every route, then a fuzz pass: every answer is below 500, the
// server stays up, and nothing is written outside its data dir. Also the security checks: every
// write route refuses a missing or wrong token, the token file is owner-only, and a request's
// Host header never decides where the server fetches from. Upstream is a stand-in on loopback,
// so no request leaves the machine.
import assert from "node:assert/strict";
import { join } from "node:path";
import { rawRequest, tempFiles, withRegistry } from "../support/registry.ts";
import { startStandInUpstream } from "../support/stand_in_upstream.ts";

const FUZZ_REQUESTS = Number(Deno.env.get("VM_FUZZ_REQUESTS") ?? 3000);

/** A registry whose three upstreams are one stand-in, in a parent dir we can inspect. */
async function withHostileSetup(
  fn: (ctx: {
    url: string;
    port: number;
    token: string;
    dataDir: string;
    parent: string;
    upstream: ReturnType<typeof startStandInUpstream>;
  }) => Promise<void>,
) {
  const upstream = startStandInUpstream({ size: 20_000 });
  const parent = await Deno.makeTempDir({ prefix: "vm-hostile-" });
  const dataDir = join(parent, "data");
  try {
    await withRegistry({
      dataDir,
      upstreams: {
        npm_upstream: upstream.url,
        pypi_upstream: `${upstream.url}/simple`,
        cargo_upstream: `${upstream.url}/index`,
        cargo_files_upstream: `${upstream.url}/crates`,
      },
      timeouts: { headersMs: 2_000, idleMs: 2_000 },
    }, (registry) =>
      fn({
        url: registry.url,
        port: registry.port,
        token: registry.token,
        dataDir,
        parent,
        upstream,
      }));
  } finally {
    await upstream.close();
    await Deno.remove(parent, { recursive: true });
  }
}

const TRAVERSALS = [
  "../../etc/passwd",
  "..%2f..%2fetc%2fpasswd",
  "%2e%2e/%2e%2e/etc/passwd",
  "%2e%2e%2f%2e%2e%2fetc",
  "..%5c..%5cwindows",
  "%252e%252e%252f",
  "/etc/passwd",
  "foo%00bar",
  "foo\u0000bar",
  "a/../../b",
  "%c0%ae%c0%ae/",
  "x".repeat(5000),
];

const PREFIXES = [
  "/npm/",
  "/npm/-/package/",
  "/npm/@scope%2f",
  "/pypi/simple/",
  "/pypi/files/",
  "/pypi/files/six/",
  "/cargo/index/",
  "/cargo/api/v1/crates/",
  "/-/packages/npm/",
  "/-/",
  "/",
];

Deno.test("traversal, NUL, encoded slashes and over-long names get a 4xx on every route", async () => {
  await withHostileSetup(async ({ port, dataDir, parent }) => {
    let requests = 0;
    for (const prefix of PREFIXES) {
      for (const attack of TRAVERSALS) {
        for (const method of ["GET", "PUT", "DELETE"]) {
          const path = (prefix + attack).replaceAll("\u0000", "%00");
          const answer = await rawRequest(port, method, path, {
            host: `127.0.0.1:${port}`,
            "content-length": "0",
          });
          requests++;
          assert.ok(
            answer.status >= 400 && answer.status < 500 || answer.status === 301,
            `${method} ${path.slice(0, 80)}: ${answer.status} ${answer.body.slice(0, 120)}`,
          );
        }
      }
    }
    assert.deepEqual(await listDir(parent), ["data"], "nothing outside the data dir");
    assert.deepEqual(await tempFiles(dataDir), []);
    console.log(`bad input: ${requests} hostile requests, all 4xx (or a redirect to a clean path)`);
  });
});

Deno.test("over-long headers, oversized and malformed bodies get a 4xx and store nothing", async () => {
  await withHostileSetup(async ({ url, port, token, dataDir }) => {
    const auth = { authorization: `Bearer ${token}` };
    const longHeader = await rawRequest(port, "GET", "/npm/x", {
      host: `127.0.0.1:${port}`,
      "x-long": "a".repeat(200_000),
    });
    assert.ok(
      longHeader.status === 431 || longHeader.status === 400 || longHeader.status === 0,
      `long header: ${longHeader.status}`,
    );
    const oversized = await rawRequest(port, "PUT", "/npm/some-name", {
      host: `127.0.0.1:${port}`,
      ...auth,
      "content-type": "application/json",
      "content-length": String(4 * 1024 ** 3),
    }, "{");
    assert.equal(oversized.status, 413);
    const cases: [string, string, BodyInit, Record<string, string>][] = [
      ["PUT", "/npm/some-name", "{not json", {}],
      ["PUT", "/npm/some-name", '{"versions": 5, "_attachments": {"x": 1}}', {}],
      ["POST", "/pypi/legacy/", "--broken--\r\n", {
        "content-type": "multipart/form-data; boundary=zzz",
      }],
      ["POST", "/pypi/", "name=x", { "content-type": "application/x-www-form-urlencoded" }],
      ["PUT", "/cargo/api/v1/crates/new", new Uint8Array([1, 0, 0]), {}],
      ["PUT", "/cargo/api/v1/crates/new", new Uint8Array([255, 255, 255, 255, 0]), {}],
      ["PUT", "/-/packages/npm/.x/claim", "", {}],
      ["PUT", "/-/packages/rubygems/x/claim", "", {}],
      ["DELETE", "/-/packages/npm/..%2fx", "", {}],
      ["PUT", "/npm/-/package/x/dist-tags/1.0.0", '"1.0.0"', {}],
    ];
    for (const [method, path, body, headers] of cases) {
      const response = await fetch(`${url}${path}`, {
        method,
        body,
        headers: { ...auth, ...headers },
      });
      await response.body?.cancel();
      assert.ok(
        response.status >= 400 && response.status < 500,
        `${method} ${path}: ${response.status}`,
      );
    }
    const packages = await (await fetch(`${url}/-/packages`)).json();
    assert.deepEqual(packages.packages, []);
    assert.deepEqual(await tempFiles(dataDir), []);
  });
});

Deno.test("every write route refuses a missing or wrong token; the token file is owner-only", async () => {
  await withHostileSetup(async ({ url, dataDir }) => {
    const writes: [string, string][] = [
      ["PUT", "/npm/pkg"],
      ["PUT", "/npm/pkg/-rev/1-abc"],
      ["DELETE", "/npm/pkg/-rev/1-abc"],
      ["DELETE", "/npm/pkg/-/pkg-1.0.0.tgz/-rev/1-abc"],
      ["PUT", "/npm/-/package/pkg/dist-tags/beta"],
      ["DELETE", "/npm/-/package/pkg/dist-tags/beta"],
      ["GET", "/npm/-/whoami"],
      ["POST", "/pypi/"],
      ["POST", "/pypi/legacy/"],
      ["PUT", "/cargo/api/v1/crates/new"],
      ["DELETE", "/cargo/api/v1/crates/pkg/1.0.0/yank"],
      ["PUT", "/cargo/api/v1/crates/pkg/1.0.0/unyank"],
      ["PUT", "/-/packages/npm/pkg/claim"],
      ["DELETE", "/-/packages/npm/pkg"],
      ["POST", "/-/gc"],
    ];
    for (
      const authorization of [
        undefined,
        "Bearer wrong",
        `Basic ${btoa("__token__:wrong")}`,
        "wrong",
      ]
    ) {
      for (const [method, path] of writes) {
        const response = await fetch(`${url}${path}`, {
          method,
          headers: authorization ? { authorization } : {},
          body: method === "GET" ? undefined : "{}",
        });
        await response.body?.cancel();
        assert.equal(response.status, 401, `${method} ${path} with ${authorization ?? "no token"}`);
      }
    }
    const mode = (await Deno.stat(join(dataDir, "token"))).mode! & 0o777;
    assert.equal(mode, 0o600);
  });
});

Deno.test("the Host header never decides where the server fetches from", async () => {
  await withHostileSetup(async ({ port, upstream }) => {
    const before = upstream.tarballRequests;
    const answer = await rawRequest(port, "GET", `/npm/${upstream.name}/-/${upstream.filename}`, {
      host: "evil.example:1",
    });
    assert.equal(answer.status, 200);
    assert.equal(upstream.tarballRequests, before + 1, "fetched from the configured upstream");
    const packument = await rawRequest(port, "GET", `/npm/${upstream.name}`, {
      host: "evil.example:1\r\nx-injected: 1",
    });
    assert.ok(packument.status === 400 || packument.status === 200);
    assert.doesNotMatch(packument.body, /x-injected/);
  });
});

Deno.test("fuzz: random and mutated requests never get a 5xx or crash the server", async () => {
  await withHostileSetup(async ({ url, port, dataDir, parent, upstream }) => {
    const valid = [
      `/npm/${upstream.name}`,
      `/npm/${upstream.name}/-/${upstream.filename}`,
      `/npm/${upstream.name}/1.0.0`,
      `/pypi/simple/${upstream.name}/`,
      `/pypi/files/${upstream.name}/${upstream.filename}`,
      `/cargo/index/${upstream.name.slice(0, 2)}/${upstream.name.slice(2, 4)}/${upstream.name}`,
      `/cargo/api/v1/crates/${upstream.name}/1.0.0/download`,
      "/cargo/index/config.json",
      "/-/status",
      "/-/health",
      "/-/packages",
    ];
    const pieces = [
      "%",
      "%2",
      "%zz",
      "..",
      ".",
      "/",
      "//",
      "@",
      "@x%2f",
      "-",
      "~",
      "%00",
      "ü",
      "%ff",
      "?",
      "#",
      "+",
      " ",
      "\t",
      "*",
      "'",
      '"',
      "<",
      ">",
      "\\",
      "-rev",
      "dist-tags",
      "\u202e",
    ];
    const methods = ["GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"];
    let seed = 42;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const statuses = new Map<number, number>();
    for (let i = 0; i < FUZZ_REQUESTS; i++) {
      let path = valid[random(valid.length)];
      const mutations = 1 + random(3);
      for (let m = 0; m < mutations; m++) {
        const at = random(path.length + 1);
        const cut = random(3);
        path = path.slice(0, at) + pieces[random(pieces.length)] + path.slice(at + cut);
      }
      if (!path.startsWith("/")) path = "/" + path;
      const method = methods[random(methods.length)];
      const safePath = encodeURI(path).replace(/%25/g, "%").replace(/#/g, "%23");
      let status: number;
      try {
        const response = await fetch(`${url}${safePath}`, {
          method,
          headers: random(4) === 0 ? { accept: pieces[random(pieces.length)] } : {},
          body: method === "GET" || method === "HEAD" ? undefined : pieces[random(pieces.length)],
        });
        await response.body?.cancel();
        status = response.status;
      } catch {
        // fetch refused to send it (an invalid URL): try it raw.
        status =
          (await rawRequest(port, method, path.replaceAll("\u0000", "%20").replace(/\s/g, "%20"), {
            host: `127.0.0.1:${port}`,
            "content-length": "0",
          })).status;
      }
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      assert.ok(status < 500, `${method} ${path}: ${status}`);
    }
    const health = await fetch(`${url}/-/health`);
    assert.equal(health.status, 200);
    await health.body?.cancel();
    assert.deepEqual(await listDir(parent), ["data"], "nothing outside the data dir");
    assert.deepEqual(await tempFiles(dataDir), []);
    const summary = [...statuses].sort(([a], [b]) => a - b).map(([s, n]) => `${s}×${n}`).join(" ");
    console.log(`fuzz: ${FUZZ_REQUESTS} requests, statuses ${summary}, no 5xx, server up`);
  });
});

async function listDir(dir: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(dir))).map((entry) => entry.name).sort();
}
