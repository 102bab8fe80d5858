// servePackageFile and servePrivateFile on their own, in an ecosystem context built as the server
// builds it: a verified copy in the store is a hit (ETag, 304, ranges, HEAD, no upstream); a miss
// resolves the file's source, downloads it once however many clients ask, and streams it to all
// of them while verifying it; a file that does not verify is never recorded; a record whose blob
// went missing is fetched again. The upstream is the hostile stand-in on loopback. Requests go
// through the server's dispatcher with one route built on the module, as a client's would: HEAD
// (the GET answer without its body) and counting the bytes of a body once it is sent are the
// dispatcher's.
import assert from "node:assert/strict";
import {
  fileNotListed,
  type PackageFileRequest,
  servePackageFile,
  servePrivateFile,
} from "../../src/registry/package_files.ts";
import type { PrivateFile } from "../../src/store/private_packages.ts";
import { UpstreamStatusError } from "../../src/upstream/errors.ts";
import type { StoredFile } from "../../src/upstream/verified_download.ts";
import {
  type HostileUpstream,
  sha256Hex,
  startHostileUpstream,
} from "../support/hostile_upstream.ts";
import {
  ECOSYSTEM,
  type EcosystemFixture,
  FILES,
  gate,
  pausedBody,
  randomBytes,
  receive,
  withEcosystem,
} from "./ecosystem_fixture.ts";

const KiB = 1024;
const CONTENT_TYPE = "application/octet-stream";

interface Setup extends EcosystemFixture {
  upstream: HostileUpstream;
  /**
   * What a handler passes for the file at `path` of the upstream, which must hash to `bytes`;
   * `resolved` counts the calls of resolve().
   */
  file(path: string, bytes: Uint8Array, options?: { size?: number }): PackageFileRequest & {
    resolved: number;
  };
  /** A client's request with this method and these headers, served by servePackageFile. */
  serve(spec: PackageFileRequest, headers?: HeadersInit, method?: string): Promise<Response>;
}

async function withFiles(fn: (setup: Setup) => Promise<void>): Promise<void> {
  const upstream = startHostileUpstream();
  try {
    await withEcosystem({ upstreams: [upstream.url] }, async (fixture) => {
      await fn({
        ...fixture,
        upstream,
        file(path, bytes, options = {}) {
          const spec = {
            recordKey: [...FILES, "pkg", path],
            label: `${ECOSYSTEM}:${path}`,
            contentType: CONTENT_TYPE,
            resolved: 0,
            resolve: () => {
              spec.resolved++;
              return Promise.resolve({
                url: `${upstream.url}${path}`,
                expected: { algorithm: "sha256" as const, hex: sha256Hex(bytes) },
                size: options.size,
              });
            },
          };
          return spec;
        },
        serve: (spec, headers = {}, method = "GET") =>
          fixture.routed((request) => servePackageFile(fixture.ctx, request, spec))(
            method,
            `http://127.0.0.1:3080/files${String(spec.recordKey.at(-1))}`,
            headers,
          ),
      });
    });
  } finally {
    await upstream.close();
  }
}

Deno.test("a miss is fetched, verified and recorded; then it is a hit with ETag and no upstream", async () => {
  await withFiles(async ({ ctx, upstream, stats, blobs, clock, file, serve }) => {
    const bytes = randomBytes(100 * KiB);
    upstream.routes.set("/pkg-1.0.0.tgz", { body: bytes });
    const spec = file("/pkg-1.0.0.tgz", bytes);
    const miss = await serve(spec);
    assert.equal(miss.status, 200);
    assert.equal(miss.headers.get("content-type"), CONTENT_TYPE);
    assert.equal(miss.headers.get("cache-control"), "public, max-age=31536000, immutable");
    assert.equal(miss.headers.get("content-length"), String(bytes.byteLength));
    assert.deepEqual(await receive(miss.body), { bytes, error: undefined });
    assert.deepEqual((await ctx.kv.get<StoredFile>(spec.recordKey)).value, {
      sha256: sha256Hex(bytes),
      size: bytes.byteLength,
      storedAt: clock.now(),
    });
    assert.deepEqual(await blobs.readBytes(sha256Hex(bytes)), bytes);

    const hit = await serve(spec);
    assert.equal(hit.status, 200);
    assert.equal(hit.headers.get("etag"), `"${sha256Hex(bytes)}"`);
    assert.equal(hit.headers.get("accept-ranges"), "bytes");
    assert.equal(hit.headers.get("content-length"), String(bytes.byteLength));
    assert.equal(hit.headers.get("cache-control"), "public, max-age=31536000, immutable");
    assert.deepEqual(await receive(hit.body), { bytes, error: undefined });
    assert.equal(spec.resolved, 1, "a hit does not even look for the source");
    assert.deepEqual(upstream.requests, ["/pkg-1.0.0.tgz"]);
    const counters = stats.snapshot(ECOSYSTEM);
    assert.equal(counters.cacheMisses, 1);
    assert.equal(counters.cacheHits, 1);
    assert.equal(counters.servedBytes, 2 * bytes.byteLength);
    assert.equal(counters.directBytes, 2 * bytes.byteLength);
    assert.equal(counters.upstreamBytes, bytes.byteLength);
  });
});

Deno.test("a hit answers If-None-Match with 304, a Range with 206, HEAD with headers only", async () => {
  await withFiles(async ({ upstream, stats, file, serve }) => {
    const bytes = randomBytes(64 * KiB);
    upstream.routes.set("/pkg.whl", { body: bytes });
    const spec = file("/pkg.whl", bytes);
    await receive((await serve(spec)).body);
    const etag = `"${sha256Hex(bytes)}"`;

    const cached = await serve(spec, { "if-none-match": etag });
    assert.equal(cached.status, 304);
    assert.equal(cached.headers.get("etag"), etag);
    assert.equal((await receive(cached.body)).bytes.byteLength, 0);

    const tail = await serve(spec, { range: "bytes=-100" });
    assert.equal(tail.status, 206);
    assert.equal(
      tail.headers.get("content-range"),
      `bytes ${64 * KiB - 100}-${64 * KiB - 1}/${64 * KiB}`,
    );
    assert.deepEqual((await receive(tail.body)).bytes, bytes.subarray(64 * KiB - 100));

    const served = stats.snapshot(ECOSYSTEM).servedBytes;
    const head = await serve(spec, {}, "HEAD");
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("content-length"), String(bytes.byteLength));
    assert.equal(head.headers.get("etag"), etag);
    assert.equal(head.body, null);
    assert.equal(stats.snapshot(ECOSYSTEM).servedBytes, served, "no body was sent");
    assert.deepEqual(upstream.requests, ["/pkg.whl"]);
  });
});

Deno.test("HEAD of a miss: its headers at once, no body; the download goes on and is stored", async () => {
  await withFiles(async ({ ctx, upstream, blobs, stats, file, serve }) => {
    const bytes = randomBytes(48 * KiB);
    upstream.routes.set("/pkg.crate", { body: bytes });
    const spec = file("/pkg.crate", bytes);
    const head = await serve(spec, {}, "HEAD");
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("content-length"), String(bytes.byteLength));
    assert.equal(head.headers.get("content-type"), CONTENT_TYPE);
    assert.equal(head.body, null);
    await ctx.idle();
    assert.deepEqual(await blobs.readBytes(sha256Hex(bytes)), bytes);
    assert.equal(stats.snapshot(ECOSYSTEM).servedBytes, 0, "the download was not followed");
    assert.equal(stats.snapshot(ECOSYSTEM).cacheMisses, 1);
    const hit = await serve(spec);
    assert.deepEqual((await receive(hit.body)).bytes, bytes);
    assert.deepEqual(upstream.requests, ["/pkg.crate"]);
    assert.equal(stats.snapshot(ECOSYSTEM).servedBytes, bytes.byteLength);
  });
});

Deno.test("ten clients of one missing file: one upstream fetch, ten identical whole bodies", async () => {
  await withFiles(async ({ upstream, stats, tempFiles, file, serve }) => {
    const bytes = randomBytes(300 * KiB);
    const paused = gate();
    upstream.routes.set("/popular.tgz", {
      headers: { "content-length": String(bytes.byteLength) },
      body: () => pausedBody(bytes, 64 * KiB, paused.promise),
    });
    const spec = file("/popular.tgz", bytes);
    // Each response exists once its client joined the download, which is held mid-body.
    const responses = await Promise.all(Array.from({ length: 10 }, () => serve(spec)));
    assert.equal(tempFiles().length, 1);
    const bodies = responses.map((response) => receive(response.body));
    paused.open();
    for (const { bytes: body, error } of await Promise.all(bodies)) {
      assert.equal(error, undefined);
      assert.deepEqual(body, bytes);
    }
    for (const response of responses) {
      assert.equal(response.headers.get("content-length"), String(bytes.byteLength));
    }
    assert.deepEqual(upstream.requests, ["/popular.tgz"]);
    const counters = stats.snapshot(ECOSYSTEM);
    assert.equal(counters.upstreamBytes, bytes.byteLength);
    assert.equal(counters.servedBytes, 10 * bytes.byteLength);
    assert.deepEqual(tempFiles(), []);
  });
});

Deno.test("a file that does not verify: every body fails short, nothing recorded, asked again next time", async () => {
  await withFiles(async ({ ctx, upstream, blobs, logged, tempFiles, file, serve }) => {
    const published = randomBytes(80 * KiB);
    const served = published.slice();
    served[served.byteLength - 1] ^= 1;
    upstream.routes.set("/bad.tgz", { body: served });
    const spec = file("/bad.tgz", published);
    const responses = await Promise.all([serve(spec), serve(spec)]);
    for (const response of responses) {
      const { bytes, error } = await receive(response.body);
      assert.match(String(error), /integrity check failed/);
      assert.ok(bytes.byteLength < served.byteLength, "the last byte never went out");
    }
    assert.equal((await ctx.kv.get(spec.recordKey)).value, null);
    assert.equal(await blobs.readBytes(sha256Hex(served)), undefined);
    assert.deepEqual(tempFiles(), []);
    assert.match(logged.join("\n"), /warn: test:\/bad\.tgz: download failed, nothing stored/);

    upstream.routes.set("/bad.tgz", { body: published });
    const again = await serve(spec);
    assert.deepEqual((await receive(again.body)).bytes, published);
    assert.deepEqual(upstream.requests, ["/bad.tgz", "/bad.tgz"]);
  });
});

Deno.test("a record whose blob went missing: fetched again, stored again, with a warning", async () => {
  await withFiles(async ({ ctx, upstream, blobs, logged, file, serve }) => {
    const bytes = randomBytes(32 * KiB);
    upstream.routes.set("/gone.whl", { body: bytes });
    const spec = file("/gone.whl", bytes);
    await receive((await serve(spec)).body);
    await Deno.remove(blobs.pathOf(sha256Hex(bytes)));

    const refetched = await serve(spec);
    assert.equal(refetched.status, 200);
    assert.deepEqual((await receive(refetched.body)).bytes, bytes);
    assert.match(logged.join("\n"), /warn: blob of test:\/gone\.whl is missing from the store/);
    assert.deepEqual(upstream.requests, ["/gone.whl", "/gone.whl"]);
    assert.deepEqual(await blobs.readBytes(sha256Hex(bytes)), bytes);
    assert.ok((await ctx.kv.get(spec.recordKey)).value);
    const hit = await serve(spec);
    assert.equal(hit.headers.get("etag"), `"${sha256Hex(bytes)}"`, "a hit again");
    assert.deepEqual((await receive(hit.body)).bytes, bytes);
  });
});

Deno.test("a source that answers itself (not listed) is returned as it is; nothing goes upstream", async () => {
  await withFiles(async ({ upstream, stats, serve }) => {
    const spec: PackageFileRequest = {
      recordKey: ["files", ECOSYSTEM, "nope"],
      label: "test:nope",
      contentType: CONTENT_TYPE,
      resolve: () => Promise.resolve(fileNotListed("demo", "demo-9.9.9.tgz")),
    };
    const response = await serve(spec);
    assert.equal(response.status, 404);
    assert.deepEqual(await response.json(), {
      error: "demo-9.9.9.tgz is not a published file of demo",
    });
    assert.deepEqual(upstream.requests, []);
    assert.equal(stats.snapshot(ECOSYSTEM).cacheMisses, 0);
  });
});

Deno.test("an upstream that answers 404 for a listed file: the error for the handler, nothing stored", async () => {
  await withFiles(async ({ ctx, upstream, tempFiles, file }) => {
    const spec = file("/vanished.tgz", new Uint8Array(10));
    // What the handler gets (the dispatcher answers 502 for it).
    const request = new Request("http://127.0.0.1:3080/files/vanished.tgz");
    const error = await servePackageFile(ctx, request, spec).catch((caught) => caught);
    assert.ok(error instanceof UpstreamStatusError, String(error));
    assert.equal(error.status, 404);
    assert.equal((await ctx.kv.get(spec.recordKey)).value, null);
    assert.deepEqual(upstream.requests, ["/vanished.tgz"]);
    assert.deepEqual(tempFiles(), []);
  });
});

Deno.test("a private file: from the store with no-cache, never upstream; a missing blob is a 500", async () => {
  await withFiles(async ({ ctx, upstream, blobs, logged, stats, routed }) => {
    const bytes = new TextEncoder().encode("a private wheel");
    const sha256 = await blobs.putBytes(bytes);
    const file = { filename: "private-1.0.whl", sha256, size: bytes.byteLength };
    const serve = (stored: PrivateFile) =>
      routed((request) => servePrivateFile(ctx, request, stored, CONTENT_TYPE))(
        "GET",
        "http://127.0.0.1:3080/files/private-1.0.whl",
      );
    const served = await serve(file);
    assert.equal(served.status, 200);
    assert.equal(served.headers.get("cache-control"), "no-cache");
    assert.equal(served.headers.get("etag"), `"${sha256}"`);
    assert.deepEqual((await receive(served.body)).bytes, bytes);
    const counters = stats.snapshot(ECOSYSTEM);
    assert.equal(counters.servedBytes, bytes.byteLength);
    assert.equal(counters.directBytes, 0, "nobody would have fetched it upstream");

    const lost = { ...file, sha256: "0".repeat(64) };
    const missing = await serve(lost);
    assert.equal(missing.status, 500);
    assert.deepEqual(await missing.json(), {
      error: "the stored file private-1.0.whl is missing from the store",
    });
    assert.match(logged.join("\n"), /error: the stored private file private-1\.0\.whl/);
    assert.deepEqual(upstream.requests, []);
  });
});
