// UpstreamClient and UpstreamOrigins on their own: only the configured origins are contacted
// (redirects included, with a bounded number of hops), and no body is read past its bound (the
// limit, counted decompressed; the Content-Length of bytes read as sent). The upstream is the
// hostile stand-in on loopback, which frames bodies as the test says.
import assert from "node:assert/strict";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { Stats } from "../../src/registry/stats.ts";
import { OfflineError, UpstreamRefusedError } from "../../src/upstream/errors.ts";
import {
  MAX_REDIRECTS,
  UpstreamClient,
  type UpstreamClientOptions,
} from "../../src/upstream/http_client.ts";
import { UpstreamOrigins } from "../../src/upstream/origins.ts";
import {
  endlessBody,
  type HostileUpstream,
  startHostileUpstream,
} from "../support/hostile_upstream.ts";

const KiB = 1024;

Deno.test("origins: http(s) on a configured origin only, never credentials or other schemes", () => {
  const origins = new UpstreamOrigins(["https://pypi.org/simple", "http://127.0.0.1:8080/files/"]);
  assert.deepEqual(origins.list(), ["https://pypi.org", "http://127.0.0.1:8080"]);
  for (
    const url of [
      "https://pypi.org/simple/six/",
      "https://pypi.org/elsewhere",
      "https://PYPI.org:443/x",
      "http://127.0.0.1:8080/files/a.whl",
    ]
  ) assert.ok(origins.allows(url), url);
  for (
    const url of [
      "file:///etc/passwd",
      "FILE://localhost/etc/passwd",
      "http://pypi.org/simple/", // another scheme is another origin
      "https://pypi.org.evil.test/",
      "https://user:secret@pypi.org/x",
      "https://pypi.org@127.0.0.1:8080/x", // userinfo that reads as the host
      "http://localhost:8080/files/a.whl",
      "http://127.0.0.1:8081/",
      "data:text/plain,hi",
      "not a url",
    ]
  ) assert.ok(!origins.allows(url), url);
  assert.throws(() => new UpstreamOrigins(["file:///srv/mirror"]), /must be an http\(s\) URL/);
});

interface Setup {
  upstream: HostileUpstream;
  foreign: HostileUpstream;
  client(options?: Partial<UpstreamClientOptions>): UpstreamClient;
  refused: string[];
}

async function withClient(fn: (setup: Setup) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "vm-http-client-" });
  const kv = await Deno.openKv(join(dir, "kv"));
  const stats = await Stats.load(kv, ["test"]);
  const upstream = startHostileUpstream();
  const foreign = startHostileUpstream();
  const refused: string[] = [];
  try {
    await fn({
      upstream,
      foreign,
      refused,
      client: (options = {}) =>
        new UpstreamClient(stats.for("test"), {
          upstreams: [upstream.url],
          onRefused: (error) => refused.push(error.message),
          ...options,
        }),
    });
  } finally {
    await upstream.close();
    await foreign.close();
    await stats.close();
    kv.close();
    await Deno.remove(dir, { recursive: true });
  }
}

async function refusal(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof UpstreamRefusedError, String(error));
    return error.message;
  }
  assert.fail("not refused");
}

Deno.test("a URL outside the configured upstreams is never fetched", async () => {
  await withClient(async ({ client, foreign, refused }) => {
    const http = client();
    for (
      const url of [`${foreign.url}/x`, "file:///etc/passwd", `http://localhost:${foreign.port}/`]
    ) {
      assert.match(
        await refusal(http.request(url)),
        /outside the configured upstreams .*not fetched/,
      );
    }
    assert.deepEqual(foreign.requests, []);
    assert.equal(http.refusals, 3);
    assert.equal(refused.length, 3);
  });
});

Deno.test("redirects are followed within the upstream only, and only so often", async () => {
  await withClient(async ({ client, upstream, foreign }) => {
    const http = client();
    const to = (location: string, status = 302) => ({ status, headers: { location } });
    upstream.routes.set("/a", to("/b"));
    upstream.routes.set("/b", to(`${upstream.url}/c`, 308));
    upstream.routes.set("/c", { body: "arrived" });
    const followed = await http.request(`${upstream.url}/a`);
    assert.equal(followed.status, 200);
    assert.equal(new TextDecoder().decode(await http.readAll("/a", followed.body)), "arrived");

    upstream.routes.set("/away", to(`${foreign.url}/x`));
    assert.match(
      await refusal(http.request(`${upstream.url}/away`)),
      /redirected to http:\/\/127\.0\.0\.1:\d+\/x, outside the configured upstreams .*; not followed/,
    );
    upstream.routes.set("/file", to("file:///etc/passwd", 301));
    assert.match(await refusal(http.request(`${upstream.url}/file`)), /redirected to file:/);
    upstream.routes.set("/junk", to("http://[::1"));
    assert.match(
      await refusal(http.request(`${upstream.url}/junk`)),
      /redirected to http:\/\/\[::1/,
    );
    upstream.routes.set("/loop", to("/loop"));
    const before = upstream.requests.length;
    assert.match(await refusal(http.request(`${upstream.url}/loop`)), /more than 5 redirects/);
    assert.equal(upstream.requests.length - before, MAX_REDIRECTS + 1);
    assert.deepEqual(foreign.requests, []);
  });
});

Deno.test("a body is read up to the limit, then the transfer stops", async () => {
  await withClient(async ({ client, upstream }) => {
    const http = client({ limits: { maxDocumentBytes: 256 * KiB, maxFileBytes: 512 * KiB } });
    upstream.routes.set("/fits", { body: new Uint8Array(256 * KiB) });
    const fits = await http.request(`${upstream.url}/fits`);
    assert.equal((await http.readAll("/fits", fits.body)).byteLength, 256 * KiB);

    // Announced over the limit: refused on the headers, before a byte is read.
    upstream.routes.set("/announced", { body: new Uint8Array(300 * KiB) });
    assert.match(
      await refusal(http.request(`${upstream.url}/announced`)),
      /announces a body of 307200 bytes, over max_document_size \(262144 bytes\); not read/,
    );

    // Not announced: cut as it passes the limit.
    upstream.routes.set("/endless", { body: () => endlessBody(64 * 1024 * KiB) });
    const endless = await http.request(`${upstream.url}/endless`);
    assert.match(
      await refusal(http.readAll("/endless", endless.body)),
      /body over max_document_size \(262144 bytes\); transfer stopped/,
    );
    assert.ok(upstream.sentBytes("/endless") < 32 * 1024 * KiB);

    // Compressed: counted as it inflates (8 KiB of gzip, 64 MiB inflated).
    const bomb = gzipSync(new Uint8Array(64 * 1024 * KiB));
    upstream.routes.set("/bomb", { headers: { "content-encoding": "gzip" }, body: bomb });
    const inflating = await http.request(`${upstream.url}/bomb`);
    assert.match(await refusal(http.readAll("/bomb", inflating.body)), /max_document_size/);

    // A caller's own limit (a file's).
    const limit = { bytes: 1000, name: "the size its index published" };
    assert.match(
      await refusal(http.request(`${upstream.url}/fits`, {}, { limit })),
      /over the size its index published \(1000 bytes\)/,
    );
  });
});

Deno.test("bytes as sent: never decompressed, and never past their Content-Length", async () => {
  await withClient(async ({ client, upstream }) => {
    const http = client();
    const stored = new Uint8Array(gzipSync(new TextEncoder().encode("a tarball is gzip already")));
    upstream.routes.set("/file.tgz", { headers: { "content-encoding": "gzip" }, body: stored });
    const raw = await http.request(`${upstream.url}/file.tgz`, {}, { decompress: false });
    assert.deepEqual(await http.readAll("/file.tgz", raw.body), stored);

    // Content-Length and chunked framing at once, the chunks going on past it.
    upstream.routes.set("/lies", {
      headers: { "content-length": "1000" },
      chunked: true,
      body: () => endlessBody(64 * 1024 * KiB),
    });
    const lies = await http.request(`${upstream.url}/lies`, {}, { decompress: false });
    assert.match(
      await refusal(http.readAll("/lies", lies.body)),
      /sent more than its Content-Length of 1000 bytes; transfer stopped/,
    );
    assert.ok(upstream.sentBytes("/lies") < 32 * 1024 * KiB);
  });
});

Deno.test("offline: nothing leaves the host, whatever the URL", async () => {
  await withClient(async ({ client, upstream }) => {
    const http = client({ offline: true });
    await assert.rejects(http.request(`${upstream.url}/x`), OfflineError);
    assert.deepEqual(upstream.requests, []);
  });
});
