// A hostile upstream (issue 14, items 1, 4 and 8): documents that choose where the server
// connects (file: links, other services on the machine, tarball URLs that are not this server's,
// redirects), gzip bombs, bodies that never end, files longer than they say, and files that never
// match their hash. The real server runs in-process with the hostile stand-in as every upstream,
// and a second loopback service plays "somewhere else": it must never see a request. Each test
// prints its figures: peak RSS of the process (VmHWM after a reset), the largest tmp/ seen, and
// the bytes the upstream managed to push.
import assert from "node:assert/strict";
import type { RegistryOptions } from "../../src/registry/server.ts";
import type { Logger } from "../../src/registry/logger.ts";
import { tempFiles, type TestRegistry, withRegistry } from "../support/registry.ts";
import {
  endlessBody,
  gzipBomb,
  type HostileUpstream,
  sha256Hex,
  sha512Integrity,
  startHostileUpstream,
} from "../support/hostile_upstream.ts";

const MiB = 1024 ** 2;
const PIP_JSON = "application/vnd.pypi.simple.v1+json";
const FOREIGN_BYTES = new TextEncoder().encode("bytes from another service on this machine\n");

interface Setup {
  registry: TestRegistry;
  /** The configured upstream of every ecosystem, and hostile. */
  upstream: HostileUpstream;
  /** Another service on the machine: the registry must never send it a request. */
  foreign: HostileUpstream;
  warnings: string[];
}

async function withHostile(
  options: Partial<RegistryOptions>,
  fn: (setup: Setup) => Promise<void>,
): Promise<void> {
  const upstream = startHostileUpstream();
  const foreign = startHostileUpstream();
  foreign.fallback = { body: FOREIGN_BYTES };
  const warnings: string[] = [];
  const logger: Logger = {
    info() {},
    warn: (message) => warnings.push(message),
    error: (message) => warnings.push(message),
    request() {},
  };
  try {
    await withRegistry({
      upstreams: {
        npm_upstream: upstream.url,
        pypi_upstream: `${upstream.url}/simple`,
        pypi_files_upstream: `${upstream.url}/files`,
        cargo_upstream: `${upstream.url}/index`,
        cargo_files_upstream: `${upstream.url}/crates`,
      },
      // Every request asks the upstream and waits for it: each attack reaches the server.
      metadataTtlSeconds: 0,
      metadataMaxStaleSeconds: 0,
      timeouts: { headersMs: 5_000, idleMs: 5_000 },
      logger,
      ...options,
    }, async (registry) => {
      await fn({ registry, upstream, foreign, warnings });
      assert.deepEqual(await settledTempFiles(registry.dataDir), [], "temp files left behind");
    });
  } finally {
    await upstream.close();
    await foreign.close();
  }
  assert.deepEqual(foreign.requests, [], "the registry sent requests to another service");
}

// --- Measuring ------------------------------------------------------------------------------------

const procStatus = (field: string) =>
  Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(Deno.readTextFileSync("/proc/self/status"))![1]);

/** Runs `fn` and reports the process's RSS before and at its peak during it, in MB. */
async function measureRss<T>(fn: () => Promise<T>) {
  const beforeMb = procStatus("VmRSS") / 1024;
  // "5" resets the peak (VmHWM) to the current RSS (Linux 4.0+).
  Deno.writeTextFileSync("/proc/self/clear_refs", "5");
  const value = await fn();
  const peakMb = procStatus("VmHWM") / 1024;
  return { value, beforeMb, peakMb, growthMb: peakMb - beforeMb };
}

/** tmp/ once the work in flight is done (a document rendered in the background writes there). */
async function settledTempFiles(dataDir: string): Promise<string[]> {
  for (let waited = 0;; waited += 20) {
    const left = await tempFiles(dataDir);
    if (left.length === 0 || waited >= 2_000) return left;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Polls the size of tmp/ until stopped; resolves to the largest total seen. */
function watchTmp(dataDir: string): { stop(): Promise<number> } {
  let running = true;
  let peak = 0;
  const loop = (async () => {
    while (running) {
      let total = 0;
      try {
        for (const entry of Deno.readDirSync(`${dataDir}/tmp`)) {
          try {
            total += Deno.statSync(`${dataDir}/tmp/${entry.name}`).size;
          } catch { /* renamed or removed meanwhile */ }
        }
      } catch { /* no tmp/ yet */ }
      peak = Math.max(peak, total);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return peak;
    },
  };
}

/** The status and body of a request whose body may be cut off ("cut off" then). */
async function outcome(url: string, init?: RequestInit): Promise<{ status: number; body: string }> {
  const response = await fetch(url, init);
  try {
    return { status: response.status, body: await response.text() };
  } catch {
    return { status: response.status, body: "cut off" };
  }
}

const mb = (bytes: number) => `${(bytes / MiB).toFixed(1)} MB`;

function packument(name: string, versions: Record<string, { tarball: string; bytes: Uint8Array }>) {
  return JSON.stringify({
    name,
    "dist-tags": { latest: Object.keys(versions).at(-1) },
    versions: Object.fromEntries(
      Object.entries(versions).map(([version, { tarball, bytes }]) => [version, {
        name,
        version,
        dist: { tarball, integrity: sha512Integrity(bytes) },
      }]),
    ),
  });
}

function jsonPage(name: string, files: Record<string, unknown>[]) {
  return {
    headers: { "content-type": PIP_JSON },
    body: JSON.stringify({ meta: { "api-version": "1.1" }, name, files }),
  };
}

// --- Documents choose where the server connects ---------------------------------------------------

Deno.test("pypi: file: links on a project page are never read (the write token)", async () => {
  await withHostile({}, async ({ registry, upstream, warnings }) => {
    const tokenPath = `${registry.dataDir}/token`;
    const token = await Deno.readFile(tokenPath);
    const tokenText = registry.token;
    const legit = crypto.getRandomValues(new Uint8Array(4096));
    const legitUrl = `${upstream.url}/files/evil/evil-1.0.tar.gz`;
    upstream.routes.set("/files/evil/evil-1.0.tar.gz", { body: legit });
    // The hashes are right: a server that fetched these would verify and serve them.
    upstream.routes.set(
      "/simple/evil/",
      jsonPage("evil", [
        { filename: "evil-1.0.tar.gz", url: legitUrl, hashes: { sha256: sha256Hex(legit) } },
        {
          filename: "token-1.0.tar.gz",
          url: `file://${tokenPath}`,
          hashes: { sha256: sha256Hex(token) },
        },
        {
          filename: "token-2.0.tar.gz",
          url: `FILE://localhost${tokenPath}`,
          hashes: { sha256: sha256Hex(token) },
        },
      ]),
    );
    upstream.routes.set("/simple/evil-html/", {
      headers: { "content-type": "text/html" },
      body: `<html><body>
        <a href="${legitUrl}#sha256=${sha256Hex(legit)}">evil-1.0.tar.gz</a>
        <a href="file://${tokenPath}#sha256=${sha256Hex(token)}">token-1.0.tar.gz</a>
        <a href="file:${tokenPath}#sha256=${sha256Hex(token)}">token-2.0.tar.gz</a>
      </body></html>`,
    });
    for (const project of ["evil", "evil-html"]) {
      for (const filename of ["token-1.0.tar.gz", "token-2.0.tar.gz"]) {
        const file = await outcome(`${registry.url}/pypi/files/${project}/${filename}`);
        assert.ok(
          !file.body.includes(tokenText.slice(0, 24)),
          `the token was served: ${file.body}`,
        );
        assert.equal(file.status, 404, `${project}/${filename}: ${file.body}`);
      }
      for (let round = 0; round < 2; round++) {
        const json = await (await fetch(`${registry.url}/pypi/simple/${project}/`, {
          headers: { accept: PIP_JSON },
        })).json();
        assert.deepEqual(json.files.map((f: { filename: string }) => f.filename), [
          "evil-1.0.tar.gz",
        ]);
        const html = await (await fetch(`${registry.url}/pypi/simple/${project}/`)).text();
        assert.doesNotMatch(html, /token-|file:/i);
      }
      const good = await fetch(`${registry.url}/pypi/files/${project}/evil-1.0.tar.gz`);
      assert.deepEqual(new Uint8Array(await good.arrayBuffer()), legit);
    }
    // Logged once per page, however often it is asked for.
    const logged = warnings.filter((line) => /dropped from the page/.test(line));
    assert.equal(logged.length, 2, logged.join("\n"));
    assert.match(logged[0], /evil: 2 file link\(s\) outside the configured upstreams/);
    console.log(`file: links: 0 bytes of the token served, links dropped and logged once per page`);
  });
});

Deno.test("pypi: links to another service on the machine are dropped, never requested", async () => {
  await withHostile({}, async ({ registry, upstream, foreign }) => {
    const hash = sha256Hex(FOREIGN_BYTES);
    upstream.routes.set(
      "/simple/elsewhere/",
      jsonPage("elsewhere", [
        { filename: "a-1.0.tar.gz", url: `${foreign.url}/a-1.0.tar.gz`, hashes: { sha256: hash } },
        {
          filename: "b-1.0.tar.gz",
          url: `http://localhost:${foreign.port}/b-1.0.tar.gz`,
          hashes: { sha256: hash },
        },
      ]),
    );
    upstream.routes.set("/simple/elsewhere-html/", {
      headers: { "content-type": "text/html" },
      body: `<a href="${foreign.url}/a-1.0.tar.gz#sha256=${hash}">a-1.0.tar.gz</a>`,
    });
    for (
      const [project, files] of [["elsewhere", ["a", "b"]], ["elsewhere-html", ["a"]]] as const
    ) {
      for (const file of files) {
        const got = await outcome(`${registry.url}/pypi/files/${project}/${file}-1.0.tar.gz`);
        assert.equal(got.status, 404, `${project}/${file}: ${got.status} ${got.body}`);
      }
      const json = await (await fetch(`${registry.url}/pypi/simple/${project}/`, {
        headers: { accept: PIP_JSON },
      })).json();
      assert.deepEqual(json.files, []);
    }
    assert.deepEqual(foreign.requests, []);
    console.log("foreign links: dropped from the pages, 0 requests to the other service");
  });
});

Deno.test("npm: a tarball redirect leaves the configured upstream: refused", async () => {
  await withHostile({}, async ({ registry, upstream, foreign, warnings }) => {
    const mine = crypto.getRandomValues(new Uint8Array(2048));
    const tarball = (version: string) => `${upstream.url}/hop/-/hop-${version}.tgz`;
    upstream.routes.set(
      "/hop",
      {
        body: packument("hop", {
          // Right digests: a server that followed the redirect would verify and serve it.
          "1.0.0": { tarball: tarball("1.0.0"), bytes: FOREIGN_BYTES },
          "1.1.0": { tarball: tarball("1.1.0"), bytes: mine },
          "1.2.0": {
            tarball: tarball("1.2.0"),
            bytes: await Deno.readFile(`${registry.dataDir}/token`),
          },
          "1.3.0": { tarball: tarball("1.3.0"), bytes: mine },
        }),
      },
    );
    const redirect = (location: string) => ({ status: 302, headers: { location } });
    upstream.routes.set("/hop/-/hop-1.0.0.tgz", redirect(`${foreign.url}/hop-1.0.0.tgz`));
    upstream.routes.set("/hop/-/hop-1.1.0.tgz", redirect("/mirror/hop-1.1.0.tgz"));
    upstream.routes.set("/mirror/hop-1.1.0.tgz", { body: mine });
    upstream.routes.set("/hop/-/hop-1.2.0.tgz", redirect(`file://${registry.dataDir}/token`));
    upstream.routes.set("/hop/-/hop-1.3.0.tgz", redirect("/hop/-/hop-1.3.0.tgz"));

    const foreignHop = await outcome(`${registry.npmUrl}/hop/-/hop-1.0.0.tgz`);
    assert.equal(
      foreignHop.status,
      502,
      `a redirect to another host was followed: ${foreignHop.body}`,
    );
    assert.match(
      foreignHop.body,
      /redirected to http:\/\/127\.0\.0\.1:\d+\/hop-1\.0\.0\.tgz, outside the configured upstreams/,
    );
    // Within the upstream, a redirect is followed.
    const sameHost = await fetch(`${registry.npmUrl}/hop/-/hop-1.1.0.tgz`);
    assert.deepEqual(new Uint8Array(await sameHost.arrayBuffer()), mine);
    const toFile = await outcome(`${registry.npmUrl}/hop/-/hop-1.2.0.tgz`);
    assert.equal(toFile.status, 502);
    assert.match(toFile.body, /redirected to file:/);
    const loop = await outcome(`${registry.npmUrl}/hop/-/hop-1.3.0.tgz`);
    assert.equal(loop.status, 502);
    assert.match(loop.body, /more than 5 redirects/);
    assert.deepEqual(foreign.requests, []);
    assert.equal(warnings.filter((line) => /npm: refused upstream/.test(line)).length, 3);
    console.log(
      `tarball redirects: to another host 502, to file: 502, a loop 502 after 5 hops ` +
        `(${upstream.requests.filter((p) => p === "/hop/-/hop-1.3.0.tgz").length} requests), ` +
        `within the upstream followed; 0 requests elsewhere`,
    );
  });
});

Deno.test("documents: a redirect leaves the configured upstream: refused in every ecosystem", async () => {
  await withHostile({}, async ({ registry, upstream, foreign }) => {
    const away = { status: 301, headers: { location: `${foreign.url}/document` } };
    upstream.routes.set("/docs", away);
    upstream.routes.set("/simple/docs/", away);
    upstream.routes.set("/index/do/cs/docs", away);
    for (
      const [what, url, init] of [
        ["npm", `${registry.npmUrl}/docs`, {}],
        ["pypi", `${registry.url}/pypi/simple/docs/`, { headers: { accept: PIP_JSON } }],
        ["cargo", `${registry.url}/cargo/index/do/cs/docs`, {}],
      ] as const
    ) {
      const got = await outcome(url, init);
      assert.deepEqual(foreign.requests, [], `${what}: the redirect was followed`);
      assert.equal(got.status, 502, `${what}: ${got.body}`);
      assert.match(got.body, /outside the configured upstreams \(.*\); not followed/);
    }
    console.log("document redirects: npm, PyPI and cargo 502, 0 requests elsewhere");
  });
});

Deno.test("npm: every tarball URL served points at this server", async () => {
  await withHostile({}, async ({ registry, upstream, foreign }) => {
    const bytes = crypto.getRandomValues(new Uint8Array(1024));
    upstream.routes.set("/odd", {
      body: packument("odd", {
        "1.0.0": { tarball: `${foreign.url}/download?id=1`, bytes: FOREIGN_BYTES },
        "1.1.0": { tarball: `${foreign.url}/odd/-/odd-1.1.0.tgz`, bytes },
        "1.2.0": { tarball: `${foreign.url}/odd/-/odd-1.2.0.tgz/`, bytes: FOREIGN_BYTES },
      }),
    });
    upstream.routes.set("/odd/-/odd-1.1.0.tgz", { body: bytes });
    // A key spelled with an escape reads "tarball" to every JSON parser, clients included.
    upstream.routes.set("/odd-escaped", {
      body: `{"name":"odd-escaped","dist-tags":{"latest":"1.0.0"},"versions":{"1.0.0":` +
        `{"name":"odd-escaped","version":"1.0.0","dist":{"tarb\\u0061ll":"${foreign.url}/x",` +
        `"integrity":"${sha512Integrity(FOREIGN_BYTES)}"}}}}`,
    });
    const served: string[] = [];
    for (const name of ["odd", "odd-escaped"]) {
      for (const accept of ["application/json", "application/vnd.npm.install-v1+json"]) {
        const doc = await (await fetch(`${registry.npmUrl}/${name}`, { headers: { accept } }))
          .json();
        for (const [version, manifest] of Object.entries(doc.versions)) {
          const url = (manifest as { dist: { tarball: string } }).dist.tarball;
          assert.ok(
            url.startsWith(`${registry.npmUrl}/`),
            `${name}@${version} (${accept}) sends clients to ${url}`,
          );
          served.push(url);
        }
      }
      const one = await (await fetch(`${registry.npmUrl}/${name}/1.0.0`)).json();
      assert.ok(one.dist.tarball.startsWith(`${registry.npmUrl}/`), one.dist.tarball);
    }
    // What a client then gets from those URLs: the mapped one, or a 404 here.
    const statuses: Record<string, number> = {};
    for (const url of new Set(served)) {
      const response = await fetch(url);
      await response.arrayBuffer();
      statuses[url.slice(registry.npmUrl.length)] = response.status;
    }
    assert.deepEqual(statuses, {
      "/-/refused-tarball-url/odd": 404,
      "/odd/-/odd-1.1.0.tgz": 200,
      "/-/refused-tarball-url/odd-escaped": 404,
    });
    assert.deepEqual(foreign.requests, []);
    console.log(
      `tarball URLs: ${served.length} served, all on this server: ${JSON.stringify(statuses)}`,
    );
  });
});

// --- Bounded bodies: documents ---------------------------------------------------------------------

Deno.test("a gzip bomb packument is cut at max_document_size while it inflates", async () => {
  const inflated = 734 * MiB;
  const bomb = await gzipBomb('{"name":"bomb","versions":{},"readme":"', inflated, '"}');
  await withHostile({}, async ({ registry, upstream }) => {
    upstream.routes.set("/bomb", {
      headers: { "content-type": "application/json", "content-encoding": "gzip" },
      body: bomb,
    });
    const started = performance.now();
    const { value: got, growthMb, peakMb } = await measureRss(() =>
      outcome(`${registry.npmUrl}/bomb`)
    );
    const seconds = (performance.now() - started) / 1000;
    assert.equal(got.status, 502, got.body.slice(0, 200));
    assert.match(got.body, /body over max_document_size \(67108864 bytes\); transfer stopped/);
    assert.ok(growthMb < 400, `RSS grew by ${growthMb.toFixed(0)} MB`);
    const status = await registry.status();
    assert.equal(status.ecosystems.npm.documents, 0);
    assert.ok(status.cache.bytes < MiB, `${status.cache.bytes} bytes stored`);
    console.log(
      `gzip bomb: ${(bomb.byteLength / 1024).toFixed(0)} KB inflating to ${mb(inflated)}: ` +
        `502 in ${seconds.toFixed(1)} s, RSS peak ${peakMb.toFixed(0)} MB ` +
        `(+${growthMb.toFixed(0)} MB), ${status.cache.bytes} bytes stored`,
    );
  });
});

Deno.test("a bomb on revalidation: the cached packument stays, the bomb is not stored", async () => {
  const inflated = 100 * MiB;
  const bomb = await gzipBomb('{"name":"swap","versions":{},"readme":"', inflated, '"}');
  await withHostile({}, async ({ registry, upstream }) => {
    const good = JSON.stringify({ name: "swap", "dist-tags": {}, versions: {} });
    upstream.routes.set("/swap", { headers: { "content-type": "application/json" }, body: good });
    assert.equal(await (await fetch(`${registry.npmUrl}/swap`)).text(), good);
    const before = (await registry.status()).cache.bytes;
    upstream.routes.set("/swap", {
      headers: { "content-type": "application/json", "content-encoding": "gzip" },
      body: bomb,
    });
    const { value: response, growthMb } = await measureRss(async () => {
      const response = await fetch(`${registry.npmUrl}/swap`);
      return {
        status: response.status,
        warning: response.headers.get("warning"),
        body: await response.text(),
      };
    });
    assert.equal(response.body.length, good.length, "the bomb replaced the cached document");
    assert.equal(response.body, good);
    assert.match(response.warning ?? "", /stale: .*max_document_size/);
    const grown = (await registry.status()).cache.bytes - before;
    assert.ok(grown < MiB, `the store grew by ${mb(grown)}`);
    console.log(
      `bomb on revalidation: ${(bomb.byteLength / 1024).toFixed(0)} KB → ${mb(inflated)}: ` +
        `the cached ${good.length}-byte document served (stale), store +${grown} bytes, ` +
        `RSS +${growthMb.toFixed(0)} MB`,
    );
  });
});

Deno.test("an endless document body is cut at max_document_size; an oversized one is never read", async () => {
  await withHostile({}, async ({ registry, upstream }) => {
    const cap = 1024 * MiB;
    upstream.routes.set("/endless", {
      headers: { "content-type": "application/json" },
      body: function* () {
        yield new TextEncoder().encode('{"name":"endless","readme":"');
        yield* endlessBody(cap);
      },
    });
    const { value: got, growthMb } = await measureRss(() => outcome(`${registry.npmUrl}/endless`));
    const pushed = upstream.sentBytes("/endless");
    assert.ok(pushed < 80 * MiB, `the upstream pushed ${mb(pushed)}`);
    assert.equal(got.status, 502, got.body.slice(0, 200));
    assert.match(got.body, /body over max_document_size/);
    assert.ok(growthMb < 400, `RSS grew by ${growthMb.toFixed(0)} MB`);

    // Announced over the limit: refused on the headers.
    upstream.routes.set("/announced", {
      headers: { "content-type": "application/json", "content-length": String(100 * MiB) },
      body: () => endlessBody(100 * MiB),
    });
    const announced = await outcome(`${registry.npmUrl}/announced`);
    assert.equal(announced.status, 502);
    assert.match(announced.body, /announces a body of 104857600 bytes, over max_document_size/);
    const announcedPushed = upstream.sentBytes("/announced");
    assert.ok(announcedPushed < 16 * MiB, `the upstream pushed ${mb(announcedPushed)}`);
    console.log(
      `endless document: cut after ${mb(pushed)} (limit 64 MB), RSS +${growthMb.toFixed(0)} MB; ` +
        `100 MB announced: refused on the headers (${mb(announcedPushed)} in socket buffers)`,
    );
  });
});

// --- Bounded bodies: files --------------------------------------------------------------------------

Deno.test("a file body longer than its Content-Length stops there", async () => {
  await withHostile({}, async ({ registry, upstream, warnings }) => {
    const bytes = crypto.getRandomValues(new Uint8Array(64 * 1024));
    upstream.routes.set("/long", {
      body: packument("long", {
        "1.0.0": { tarball: `${upstream.url}/long/-/long-1.0.0.tgz`, bytes },
      }),
    });
    // Content-Length and chunked framing at once: the body is the chunks, and they go on.
    upstream.routes.set("/long/-/long-1.0.0.tgz", {
      headers: { "content-length": String(bytes.byteLength) },
      chunked: true,
      body: function* () {
        yield bytes;
        yield* endlessBody(256 * MiB, 0x62);
      },
    });
    const tmp = watchTmp(registry.dataDir);
    const { value: got, growthMb } = await measureRss(() =>
      outcome(`${registry.npmUrl}/long/-/long-1.0.0.tgz`)
    );
    const tmpPeak = await tmp.stop();
    const pushed = upstream.sentBytes("/long/-/long-1.0.0.tgz");
    assert.ok(pushed < 16 * MiB, `the upstream pushed ${mb(pushed)}`);
    assert.ok(tmpPeak <= bytes.byteLength, `tmp/ reached ${mb(tmpPeak)}`);
    assert.ok(
      got.status === 502 || got.body === "cut off",
      `${got.status} ${got.body.slice(0, 100)}`,
    );
    assert.equal((await registry.status()).ecosystems.npm.packages, 0);
    assert.ok(
      warnings.some((line) => /sent more than its Content-Length of 65536 bytes/.test(line)),
      warnings.join("\n"),
    );
    console.log(
      `file longer than its Content-Length (64 KB declared): ${got.status} ${
        got.body === "cut off" ? "cut off" : ""
      }, ` +
        `upstream pushed ${mb(pushed)}, tmp/ peak ${tmpPeak} bytes, RSS +${growthMb.toFixed(0)} MB`,
    );
  });
});

Deno.test("a file without Content-Length stops at max_file_size; one announced over it is never read", async () => {
  await withHostile({ maxFileBytes: MiB }, async ({ registry, upstream, warnings }) => {
    const line = (name: string) =>
      JSON.stringify({ name, vers: "1.0.0", deps: [], cksum: "0".repeat(64), features: {} }) + "\n";
    upstream.routes.set("/index/en/dl/endless", { body: line("endless") });
    upstream.routes.set("/index/3/b/big", { body: line("big") });
    upstream.routes.set("/crates/endless/1.0.0/download", { body: () => endlessBody(256 * MiB) });
    upstream.routes.set("/crates/big/1.0.0/download", {
      headers: { "content-length": String(8 * MiB) },
      body: () => endlessBody(8 * MiB),
    });
    const tmp = watchTmp(registry.dataDir);
    const { value: got, growthMb } = await measureRss(() =>
      outcome(`${registry.url}/cargo/api/v1/crates/endless/1.0.0/download`)
    );
    const tmpPeak = await tmp.stop();
    const pushed = upstream.sentBytes("/crates/endless/1.0.0/download");
    assert.ok(pushed < 17 * MiB, `the upstream pushed ${mb(pushed)}`);
    assert.ok(tmpPeak <= MiB, `tmp/ reached ${mb(tmpPeak)}`);
    assert.ok(
      got.status === 502 || got.body === "cut off",
      `${got.status} ${got.body.slice(0, 100)}`,
    );

    const big = await outcome(`${registry.url}/cargo/api/v1/crates/big/1.0.0/download`);
    assert.equal(big.status, 502);
    assert.match(
      big.body,
      /announces a body of 8388608 bytes, over max_file_size \(1048576 bytes\)/,
    );
    assert.equal((await registry.status()).ecosystems.cargo.packages, 0);
    assert.ok(
      warnings.some((line) => /body over max_file_size \(1048576 bytes\)/.test(line)),
      warnings.join("\n"),
    );
    console.log(
      `file without Content-Length (max_file_size 1 MB): cut off, upstream pushed ${mb(pushed)}, ` +
        `tmp/ peak ${mb(tmpPeak)}, RSS +${
          growthMb.toFixed(0)
        } MB; 8 MB announced: 502 before reading`,
    );
  });
});

Deno.test("a file that never matches its hash writes at most its declared size", async () => {
  await withHostile({}, async ({ registry, upstream }) => {
    const size = 64 * 1024;
    const wrong = "0".repeat(64);
    // PyPI publishes each file's size: a body without Content-Length stops there.
    upstream.routes.set(
      "/simple/mismatch/",
      jsonPage(
        "mismatch",
        ["m-1.0.tar.gz", "m-2.0.tar.gz", "m-3.0.tar.gz"].map((filename) => ({
          filename,
          url: `${upstream.url}/files/${filename}`,
          hashes: { sha256: wrong },
          size,
        })),
      ),
    );
    upstream.routes.set("/files/m-1.0.tar.gz", { body: () => endlessBody(256 * MiB) });
    upstream.routes.set("/files/m-2.0.tar.gz", {
      headers: { "content-length": String(MiB) },
      body: () => endlessBody(MiB),
    });
    upstream.routes.set("/files/m-3.0.tar.gz", { body: new Uint8Array(1000) });
    // npm publishes no size: the Content-Length bounds it.
    const declared = new Uint8Array(256 * 1024).fill(7);
    upstream.routes.set("/mm", {
      body: packument("mm", {
        "1.0.0": { tarball: `${upstream.url}/mm/-/mm-1.0.0.tgz`, bytes: new Uint8Array(1) },
      }),
    });
    upstream.routes.set("/mm/-/mm-1.0.0.tgz", { body: declared });

    const tmp = watchTmp(registry.dataDir);
    const { value: pypi, growthMb } = await measureRss(() =>
      outcome(`${registry.url}/pypi/files/mismatch/m-1.0.tar.gz`)
    );
    const pypiTmp = await tmp.stop();
    const pushed = upstream.sentBytes("/files/m-1.0.tar.gz");
    assert.ok(pushed < 16 * MiB, `the upstream pushed ${mb(pushed)}`);
    assert.ok(pypiTmp <= size, `tmp/ reached ${mb(pypiTmp)}`);
    assert.ok(pypi.status === 502 || pypi.body === "cut off", `${pypi.status} ${pypi.body}`);

    const other = await outcome(`${registry.url}/pypi/files/mismatch/m-2.0.tar.gz`);
    assert.equal(other.status, 502);
    assert.match(
      other.body,
      /announces a body of 1048576 bytes, over the size its index published/,
    );
    const short = await outcome(`${registry.url}/pypi/files/mismatch/m-3.0.tar.gz`);
    assert.equal(short.status, 502);
    assert.match(short.body, /announces 1000 bytes where the index published 65536; not read/);

    const npmTmp = watchTmp(registry.dataDir);
    const npm = await outcome(`${registry.npmUrl}/mm/-/mm-1.0.0.tgz`);
    const npmPeak = await npmTmp.stop();
    assert.equal(npm.body, "cut off");
    assert.ok(npmPeak <= declared.byteLength, `tmp/ reached ${mb(npmPeak)}`);
    const status = await registry.status();
    assert.equal(status.ecosystems.pypi.packages + status.ecosystems.npm.packages, 0);
    console.log(
      `hash mismatch: PyPI (size 64 KB published, endless body) cut at ${pypiTmp} bytes in tmp/, ` +
        `upstream pushed ${mb(pushed)}, RSS +${growthMb.toFixed(0)} MB; ` +
        `1 MB announced against 64 KB published: 502 before reading; ` +
        `npm (256 KB declared): tmp/ peak ${npmPeak} bytes, removed`,
    );
  });
});
