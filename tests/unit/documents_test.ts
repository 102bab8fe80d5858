// serveDocument on its own, in an ecosystem context built as the server builds it: a stored
// metadata document is rendered for the base URL the client used, sent with Content-Length,
// a weak ETag shared by its plain and gzip copies, Last-Modified, Vary and Cache-Control;
// If-None-Match and (only without it) If-Modified-Since give 304; HEAD gives the headers alone;
// a stale document carries a Warning; a Host that is not one of the server's names gets a
// rendering of its own, streamed when big; a missing blob is an error, never an empty 200.
// Requests go through the server's dispatcher with one route built on serveDocument, as a
// client's would: HEAD (the GET answer without its body) and counting the bytes of a body once
// it is sent are the dispatcher's.
import assert from "node:assert/strict";
import { gunzipSync } from "node:zlib";
import {
  type DocumentResponse,
  privateDocumentOutcome,
  serveDocument,
} from "../../src/registry/documents.ts";
import type { PrivatePackage } from "../../src/store/private_packages.ts";
import { BASE_URL_PLACEHOLDER } from "../../src/store/rendered_documents.ts";
import { ECOSYSTEM, type EcosystemFixture, receive, withEcosystem } from "./ecosystem_fixture.ts";

const BASE = "http://127.0.0.1:3080/npm";
const VM_BASE = "http://host.docker.internal:3080/npm";
/** With milliseconds, which HTTP dates do not carry. */
const FETCHED_AT = Date.UTC(2026, 0, 1, 12, 0, 0, 500);
const UPSTREAM_SIZE = 5000;
const TEMPLATE = JSON.stringify({
  name: "demo",
  versions: {
    "1.0.0": { dist: { tarball: `${BASE_URL_PLACEHOLDER}/demo/-/demo-1.0.0.tgz` } },
    "1.1.0": { dist: { tarball: `${BASE_URL_PLACEHOLDER}/demo/-/demo-1.1.0.tgz` } },
  },
});
const renderedFor = (base: string) => TEMPLATE.replaceAll(BASE_URL_PLACEHOLDER, base);

interface Setup extends EcosystemFixture {
  digest: string;
  /** What a handler passes serveDocument for the stored template, `doc` changing the defaults. */
  document(doc?: Partial<DocumentResponse>): DocumentResponse;
  /** A client's request for the stored template, served by serveDocument with document(doc). */
  serve(
    headers?: HeadersInit,
    options?: { method?: string; doc?: Partial<DocumentResponse> },
  ): Promise<Response>;
}

async function withDocument(fn: (setup: Setup) => Promise<void>): Promise<void> {
  await withEcosystem({
    upstreams: ["http://127.0.0.1:9"], // never contacted: serving reads the store only
    storedBases: new Set([BASE, VM_BASE]),
  }, async (fixture) => {
    const digest = await fixture.blobs.putBytes(new TextEncoder().encode(TEMPLATE));
    const document = (doc: Partial<DocumentResponse> = {}): DocumentResponse => ({
      outcome: {
        kind: "found",
        source: "cache",
        record: {
          fetchedAt: FETCHED_AT,
          checkedAt: FETCHED_AT,
          upstreamDigest: "ab".repeat(32),
          upstreamSize: UPSTREAM_SIZE,
        },
      },
      digest,
      baseUrl: BASE,
      contentType: "application/json",
      cacheControl: "public, max-age=300",
      vary: "Accept, Accept-Encoding",
      what: "demo",
      ...doc,
    });
    await fn({
      ...fixture,
      digest,
      document,
      serve: (headers = {}, { method = "GET", doc = {} } = {}) =>
        fixture.routed((request) => serveDocument(fixture.ctx, request, document(doc)))(
          method,
          "http://127.0.0.1:3080/npm/demo",
          headers,
        ),
    });
  });
}

const text = async (response: Response) =>
  new TextDecoder().decode(
    (await receive(response.body)).bytes,
  );

Deno.test("a document is rendered for the client's base URL, with its validators and length", async () => {
  await withDocument(async ({ serve, stats }) => {
    const response = await serve();
    assert.equal(response.status, 200);
    const body = await text(response);
    assert.equal(body, renderedFor(BASE));
    assert.ok(!body.includes(BASE_URL_PLACEHOLDER));
    assert.equal(
      response.headers.get("content-length"),
      String(new TextEncoder().encode(body).byteLength),
    );
    assert.equal(response.headers.get("content-type"), "application/json");
    assert.equal(response.headers.get("cache-control"), "public, max-age=300");
    assert.equal(response.headers.get("vary"), "Accept, Accept-Encoding");
    assert.equal(response.headers.get("last-modified"), "Thu, 01 Jan 2026 12:00:00 GMT");
    assert.match(response.headers.get("etag") ?? "", /^W\/"[0-9a-f]{32}-[0-9a-f]{16}"$/);
    assert.equal(response.headers.get("content-encoding"), null);
    assert.equal(response.headers.get("warning"), null);
    const counters = stats.snapshot(ECOSYSTEM);
    assert.equal(counters.cacheHits, 1);
    assert.equal(counters.servedBytes, body.length);
    assert.equal(counters.directBytes, UPSTREAM_SIZE, "what the upstream would have sent");

    const vm = await serve({}, { doc: { baseUrl: VM_BASE } });
    assert.equal(await text(vm), renderedFor(VM_BASE));
    assert.notEqual(vm.headers.get("etag"), response.headers.get("etag"));
  });
});

Deno.test("a document just fetched counts as a miss, one from the store as a hit", async () => {
  await withDocument(async ({ serve, stats }) => {
    const record = {
      fetchedAt: FETCHED_AT,
      checkedAt: FETCHED_AT,
      upstreamDigest: "cd".repeat(32),
    };
    for (const source of ["fetched", "revalidated", "refreshing", "cache"] as const) {
      await text(await serve({}, { doc: { outcome: { kind: "found", source, record } } }));
    }
    const counters = stats.snapshot(ECOSYSTEM);
    assert.equal(counters.cacheMisses, 1);
    assert.equal(counters.cacheHits, 3);
  });
});

Deno.test("gzip once it is made, with the plain copy's ETag; plain for clients without gzip", async () => {
  await withDocument(async ({ serve, rendered }) => {
    const plain = await serve({ "accept-encoding": "gzip, br" });
    // The first client gets the plain rendering; the gzip copy is made meanwhile.
    assert.equal(plain.headers.get("content-encoding"), null);
    assert.equal(await text(plain), renderedFor(BASE));
    await rendered.idle();
    const gzipped = await serve({ "accept-encoding": "gzip, br" });
    assert.equal(gzipped.headers.get("content-encoding"), "gzip");
    assert.equal(gzipped.headers.get("etag"), plain.headers.get("etag"));
    const compressed = (await receive(gzipped.body)).bytes;
    assert.equal(gzipped.headers.get("content-length"), String(compressed.byteLength));
    assert.equal(new TextDecoder().decode(gunzipSync(compressed)), renderedFor(BASE));
    const refusesGzip = await serve({ "accept-encoding": "gzip;q=0" });
    assert.equal(refusesGzip.headers.get("content-encoding"), null);
    assert.equal(await text(refusesGzip), renderedFor(BASE));
  });
});

Deno.test("If-None-Match gives 304; If-Modified-Since too, but only when no ETag was sent", async () => {
  await withDocument(async ({ serve, stats }) => {
    const first = await serve();
    const etag = first.headers.get("etag")!;
    await text(first);
    const served = stats.snapshot(ECOSYSTEM).servedBytes;
    const lastModified = "Thu, 01 Jan 2026 12:00:00 GMT"; // FETCHED_AT without its milliseconds
    const notModified: HeadersInit[] = [
      { "if-none-match": etag },
      { "if-none-match": etag.replace(/^W\//, "") },
      { "if-none-match": `"other", ${etag}` },
      { "if-none-match": "*" },
      { "if-modified-since": lastModified },
      { "if-modified-since": "Fri, 02 Jan 2026 00:00:00 GMT" },
      { "if-none-match": etag, "if-modified-since": "Mon, 01 Jan 2024 00:00:00 GMT" },
    ];
    for (const headers of notModified) {
      const response = await serve(headers);
      assert.equal(response.status, 304, JSON.stringify(headers));
      assert.equal(response.headers.get("etag"), etag);
      assert.equal(response.headers.get("last-modified"), lastModified);
      assert.equal((await receive(response.body)).bytes.byteLength, 0);
    }
    const modified: HeadersInit[] = [
      { "if-none-match": '"other"' },
      { "if-modified-since": "Thu, 01 Jan 2026 11:59:59 GMT" },
      { "if-modified-since": "not a date" },
      // The ETag decides when there is one, whatever the date says.
      { "if-none-match": '"other"', "if-modified-since": "Fri, 02 Jan 2026 00:00:00 GMT" },
    ];
    for (const headers of modified) {
      const response = await serve(headers);
      assert.equal(response.status, 200, JSON.stringify(headers));
      assert.equal(await text(response), renderedFor(BASE));
    }
    const body = renderedFor(BASE).length;
    assert.equal(stats.snapshot(ECOSYSTEM).servedBytes, served + modified.length * body);
  });
});

Deno.test("HEAD: the headers a GET gets, Content-Length included, and no body", async () => {
  await withDocument(async ({ serve, stats }) => {
    const head = await serve({}, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("content-length"), String(renderedFor(BASE).length));
    assert.match(head.headers.get("etag") ?? "", /^W\//);
    assert.equal(head.headers.get("last-modified"), "Thu, 01 Jan 2026 12:00:00 GMT");
    assert.equal(head.body, null);
    assert.equal(stats.snapshot(ECOSYSTEM).servedBytes, 0, "no body was sent");
    assert.equal(stats.snapshot(ECOSYSTEM).directBytes, 0);
    // The same document's GET is counted, so the zeros above are HEAD's doing.
    await text(await serve());
    assert.equal(stats.snapshot(ECOSYSTEM).servedBytes, renderedFor(BASE).length);
    assert.equal(stats.snapshot(ECOSYSTEM).directBytes, UPSTREAM_SIZE);
  });
});

Deno.test("a stale document is served with a Warning that says why", async () => {
  await withDocument(async ({ serve }) => {
    const response = await serve({}, {
      doc: {
        outcome: {
          kind: "stale",
          warning: 'upstream registry.test unavailable: answered 503 "busy"',
          record: { fetchedAt: FETCHED_AT, checkedAt: FETCHED_AT, upstreamDigest: "ab".repeat(32) },
        },
      },
    });
    assert.equal(response.status, 200);
    assert.equal(
      response.headers.get("warning"),
      `110 vm-pkg "stale: upstream registry.test unavailable: answered 503 'busy'"`,
    );
    assert.equal(await text(response), renderedFor(BASE));
  });
});

Deno.test("a base that is not one of the server's names: rendered for it alone, never stored", async () => {
  await withDocument(async ({ serve, rendered }) => {
    await text(await serve());
    await rendered.idle();
    const filesBefore = rendered.usage().files;
    const elsewhere = "http://cache.example.test:8080/npm";
    const response = await serve({}, { doc: { baseUrl: elsewhere } });
    assert.equal(response.status, 200);
    assert.equal(await text(response), renderedFor(elsewhere));
    assert.equal(response.headers.get("content-length"), String(renderedFor(elsewhere).length));
    await rendered.idle();
    assert.equal(rendered.usage().files, filesBefore);
  });
});

Deno.test("a big document for a base that is not kept is streamed: no Content-Length, 304 and HEAD still", async () => {
  await withDocument(async ({ ctx, blobs, stats, routed }) => {
    const versions: Record<string, unknown> = {};
    for (let i = 0; i < 4000; i++) {
      versions[`1.0.${i}`] = {
        dist: { tarball: `${BASE_URL_PLACEHOLDER}/big/-/big-1.0.${i}.tgz` },
      };
    }
    const template = JSON.stringify({ name: "big", versions });
    assert.ok(template.length > 256 * 1024);
    const digest = await blobs.putBytes(new TextEncoder().encode(template));
    const elsewhere = "http://cache.example.test:8080/npm";
    const request = routed((request) =>
      serveDocument(ctx, request, {
        outcome: {
          kind: "found",
          source: "cache",
          record: { fetchedAt: FETCHED_AT, checkedAt: FETCHED_AT, upstreamDigest: "ef".repeat(32) },
        },
        digest,
        baseUrl: elsewhere,
        contentType: "application/json",
        cacheControl: "public, max-age=300",
        vary: "Accept",
        what: "big",
      })
    );
    const serve = (headers: HeadersInit = {}, method = "GET") =>
      request(method, "http://cache.example.test:8080/npm/big", headers);
    const response = await serve();
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-length"), null);
    const expected = template.replaceAll(BASE_URL_PLACEHOLDER, elsewhere);
    assert.equal(await text(response), expected);
    assert.equal(
      stats.snapshot(ECOSYSTEM).servedBytes,
      new TextEncoder().encode(expected).byteLength,
    );
    const etag = response.headers.get("etag")!;
    const cached = await serve({ "if-none-match": etag });
    assert.equal(cached.status, 304);
    assert.equal((await receive(cached.body)).bytes.byteLength, 0);
    const served = stats.snapshot(ECOSYSTEM).servedBytes;
    const head = await serve({}, "HEAD");
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("etag"), etag);
    assert.equal(head.body, null);
    assert.equal(stats.snapshot(ECOSYSTEM).servedBytes, served, "the stream was never read");
  });
});

Deno.test("a private package's document: Last-Modified from its last change, no upstream saving", async () => {
  await withDocument(async ({ serve, stats }) => {
    const modifiedAt = Date.UTC(2025, 5, 15, 8, 30, 0);
    const pkg: PrivatePackage = {
      name: "demo",
      createdAt: modifiedAt - 1000,
      modifiedAt,
      rev: 2,
      distTags: { latest: "1.1.0" },
      versions: ["1.0.0", "1.1.0"],
      documents: {},
      shadowsUpstream: false,
    };
    const response = await serve({}, { doc: { outcome: privateDocumentOutcome(pkg) } });
    assert.equal(response.headers.get("last-modified"), "Sun, 15 Jun 2025 08:30:00 GMT");
    const body = await text(response);
    const counters = stats.snapshot(ECOSYSTEM);
    assert.equal(counters.servedBytes, body.length);
    assert.equal(counters.directBytes, 0);
    assert.equal(counters.cacheHits, 1);
  });
});

Deno.test("a document without a placeholder is its stored blob, as it is", async () => {
  await withDocument(async ({ serve, blobs }) => {
    const line = '{"name":"serde","vers":"1.0.0","cksum":"00"}\n';
    const digest = await blobs.putBytes(new TextEncoder().encode(line));
    const response = await serve({}, { doc: { digest, baseUrl: "" } });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-length"), String(line.length));
    assert.equal(await text(response), line);
  });
});

Deno.test("a document whose blob is missing is an error that names it, never an empty answer", async () => {
  await withDocument(async ({ ctx, document }) => {
    const missing = "0".repeat(64);
    for (const baseUrl of [BASE, "", "http://cache.example.test:8080/npm"]) {
      // What the handler gets (the dispatcher makes a logged 500 of it).
      await assert.rejects(
        serveDocument(
          ctx,
          new Request("http://127.0.0.1:3080/npm/demo"),
          document({ digest: missing, baseUrl }),
        ),
        new RegExp(`metadata blob ${missing} is missing from the store`),
        baseUrl,
      );
    }
  });
});
