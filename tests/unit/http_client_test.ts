// UpstreamClient and UpstreamOrigins on their own: only the configured origins are contacted
// (redirects included, with a bounded number of hops, a POST turned into a GET where fetch would),
// no body is read past its bound (the limit, counted decompressed; the Content-Length of bytes
// read as sent), what is sent and received is counted, and silence (no headers, a stalled body)
// or a refused connection is an UpstreamUnavailableError. The upstream is the hostile stand-in on
// loopback, which frames bodies as the test says, or a Deno.serve one that records requests.
import assert from "node:assert/strict";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { Stats } from "../../src/registry/stats.ts";
import {
  OfflineError,
  UpstreamRefusedError,
  UpstreamUnavailableError,
} from "../../src/upstream/errors.ts";
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
import { gate, pausedBody } from "./ecosystem_fixture.ts";

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
  /** The counters every client() counts into, as "test". */
  stats: Stats;
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
      stats,
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

interface Seen {
  method: string;
  path: string;
  headers: Headers;
  body: string;
}

/** A Deno.serve upstream that records each request and answers with `answer`. */
async function withRecordingUpstream(
  answer: (request: Request, path: string) => Response | Promise<Response>,
  fn: (url: string, seen: Seen[]) => Promise<void>,
): Promise<void> {
  const seen: Seen[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const path = new URL(request.url).pathname;
    seen.push({
      method: request.method,
      path,
      headers: request.headers,
      body: await request.text(),
    });
    return answer(request, path);
  });
  try {
    await fn(`http://127.0.0.1:${server.addr.port}`, seen);
  } finally {
    await server.shutdown();
  }
}

Deno.test("requests carry a User-Agent and the caller's headers; files ask for the bytes as stored", async () => {
  await withClient(async ({ client }) => {
    await withRecordingUpstream(() => new Response("ok"), async (url, seen) => {
      const http = client({ upstreams: [url] });
      const doc = await http.request(`${url}/doc`, {
        headers: { accept: "application/vnd.npm.install-v1+json", "if-none-match": '"e"' },
      });
      await doc.body.cancel();
      const file = await http.request(`${url}/file.tgz`, {}, { decompress: false });
      await file.body.cancel();
      assert.match(seen[0].headers.get("user-agent") ?? "", /^vm-pkg\//);
      assert.equal(seen[0].headers.get("accept"), "application/vnd.npm.install-v1+json");
      assert.equal(seen[0].headers.get("if-none-match"), '"e"');
      assert.notEqual(seen[0].headers.get("accept-encoding"), "identity");
      assert.equal(seen[1].headers.get("accept-encoding"), "identity");
    });
  });
});

Deno.test("a 303, or a 301/302 after a POST, goes on as a GET without the body; a 307 as it was", async () => {
  await withClient(async ({ client }) => {
    await withRecordingUpstream((_request, path) => {
      const status = Number(path.slice("/post-".length));
      if (path.startsWith("/post-")) {
        return new Response(null, { status, headers: { location: "/target" } });
      }
      return new Response("arrived");
    }, async (url, seen) => {
      const http = client({ upstreams: [url] });
      for (const status of [301, 302, 303, 307, 308]) {
        seen.length = 0;
        const response = await http.request(`${url}/post-${status}`, {
          method: "POST",
          body: "payload",
          headers: { "content-type": "application/json" },
        });
        assert.equal(new TextDecoder().decode(await http.readAll(url, response.body)), "arrived");
        const followed = seen.map(({ method, path, body, headers }) => ({
          method,
          path,
          body,
          type: headers.get("content-type"),
        }));
        const asWas = status >= 307;
        assert.deepEqual(followed, [
          { method: "POST", path: `/post-${status}`, body: "payload", type: "application/json" },
          {
            method: asWas ? "POST" : "GET",
            path: "/target",
            body: asWas ? "payload" : "",
            type: asWas ? "application/json" : null,
          },
        ], String(status));
      }
    });
  });
});

Deno.test("every request and redirect hop is counted, every body byte, background requests apart", async () => {
  await withClient(async ({ client, upstream, stats }) => {
    const http = client();
    upstream.routes.set("/a", { status: 302, headers: { location: "/b" } });
    upstream.routes.set("/b", { body: new Uint8Array(3000) });
    await http.readAll("/a", (await http.request(`${upstream.url}/a`)).body);
    const background = await http.request(`${upstream.url}/b`, {}, { background: true });
    await http.readAll("/b", background.body);
    const counters = stats.snapshot("test");
    assert.equal(counters.upstreamRequests, 3, "two hops, then one request");
    assert.equal(counters.backgroundRequests, 1);
    assert.equal(counters.upstreamBytes, 6000);
  });
});

Deno.test("no headers in time, a body that stalls, a refused connection: UpstreamUnavailableError", async () => {
  await withClient(async ({ client, upstream }) => {
    const timeouts = { headersMs: 200, idleMs: 200 };
    const http = client({ timeouts });
    const stalled = gate();
    try {
      // The body's first bytes, then nothing.
      upstream.routes.set("/stalls", {
        headers: { "content-length": "100000" },
        body: () => pausedBody(new Uint8Array(100_000), 16 * KiB, stalled.promise),
      });
      const response = await http.request(`${upstream.url}/stalls`);
      await assert.rejects(
        http.readAll("/stalls", response.body),
        (error: Error) =>
          error instanceof UpstreamUnavailableError && /no data for 0\.2s/.test(error.message),
      );
    } finally {
      stalled.open();
    }

    const late = gate();
    await withRecordingUpstream(async () => {
      await late.promise;
      return new Response("too late");
    }, async (url) => {
      try {
        await assert.rejects(
          client({ upstreams: [url], timeouts }).request(`${url}/slow`),
          (error: Error) =>
            error instanceof UpstreamUnavailableError && /no response in time/.test(error.message),
        );
      } finally {
        late.open();
      }
    });

    const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (closed.addr as Deno.NetAddr).port;
    closed.close();
    await assert.rejects(
      client({ upstreams: [`http://127.0.0.1:${port}`] }).request(`http://127.0.0.1:${port}/x`),
      (error: Error) =>
        error instanceof UpstreamUnavailableError && !(error instanceof UpstreamRefusedError) &&
        /unavailable/.test(error.message),
    );
  });
});
