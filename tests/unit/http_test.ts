// The response helpers every handler uses (src/registry/http.ts), without a server: conditional
// requests (If-None-Match, weak comparison, lists, `*`), byte ranges as uv asks for wheel
// metadata (single, suffix, open-ended, unsatisfiable; several ranges get the whole file), HEAD
// (headers, no body), and a Content-Length that is what the body holds. The file is a temp file
// whose every byte differs from its neighbours, so a wrong slice shows. A file response is
// requested through the server's dispatcher with one route built on fileResponse: HEAD (the GET
// answer without its body) and counting a body once it is sent are the dispatcher's, so
// `counted` is what a client's request was counted for. (normalizeHost, baseUrlFor and
// serverBaseUrls are tested in base_urls_test.ts.)
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  acceptsGzip,
  errorResponse,
  etagMatches,
  fileResponse,
  type FileResponseOptions,
  jsonResponse,
} from "../../src/registry/http.ts";
import { routed } from "./ecosystem_fixture.ts";

const SIZE = 200_000; // several 64 KiB pieces, so a range read crosses their boundaries
const ETAG = '"abc123"';
const FILE_BYTES = Uint8Array.from({ length: SIZE }, (_, i) => (i * 7 + (i >> 8)) % 256);

interface Answer {
  status: number;
  headers: Headers;
  body: Uint8Array;
  /** What onBytes was told (the bytes counted as served, once the dispatcher sent the body). */
  counted: number;
}

interface Setup {
  path: string;
  emptyPath: string;
  /** fileResponse for a request with these headers, as a client gets it, read to the end. */
  answer(
    headers?: HeadersInit,
    options?: Partial<FileResponseOptions> & { method?: string },
  ): Promise<Answer>;
}

async function withFile(fn: (setup: Setup) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "vm-http-" });
  const path = join(dir, "file.whl");
  const emptyPath = join(dir, "empty");
  await Deno.writeFile(path, FILE_BYTES);
  await Deno.writeFile(emptyPath, new Uint8Array(0));
  const answer = async (
    headers: HeadersInit = {},
    { method = "GET", ...options }: Partial<FileResponseOptions> & { method?: string } = {},
  ): Promise<Answer> => {
    let counted = 0;
    const request = routed(async (request) => {
      const response = await fileResponse(request, {
        path,
        etag: ETAG,
        headers: { "content-type": "application/octet-stream", "cache-control": "immutable" },
        ranges: true,
        onBytes: (n) => counted += n,
        ...options,
      });
      assert.ok(response, "the file exists");
      return response;
    });
    const response = await request(method, "http://registry.test/f", headers);
    const body = new Uint8Array(await response.arrayBuffer());
    return { status: response.status, headers: response.headers, body, counted };
  };
  try {
    await fn({ path, emptyPath, answer });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const ifNoneMatch = (value: string) =>
  etagMatches(new Request("http://x/", { headers: { "if-none-match": value } }), '"abc"');

Deno.test("If-None-Match: weak comparison, lists, `*`; nothing else matches", () => {
  for (const value of ['"abc"', 'W/"abc"', '"x", "abc"', ' "x" ,W/"abc" ', "*", " * "]) {
    assert.equal(ifNoneMatch(value), true, value);
  }
  for (const value of ['"abcd"', '"ab"', "abc", '"x", "y"', '""', "W/", "**"]) {
    assert.equal(ifNoneMatch(value), false, value);
  }
  assert.equal(etagMatches(new Request("http://x/"), '"abc"'), false, "no header");
  // A weak ETag of ours matches the strong form of the same opaque tag, too.
  const request = new Request("http://x/", { headers: { "if-none-match": '"abc"' } });
  assert.equal(etagMatches(request, 'W/"abc"'), true);
});

Deno.test("Accept-Encoding: gzip unless its q is 0", () => {
  const accepts = (value?: string) =>
    acceptsGzip(
      new Request("http://x/", {
        headers: value === undefined ? {} : { "accept-encoding": value },
      }),
    );
  for (
    const value of ["gzip", "GZIP", "br, gzip", "deflate, gzip;q=0.5", "gzip; q=1", "*;q=0, gzip"]
  ) {
    assert.equal(accepts(value), true, value);
  }
  for (const value of [undefined, "", "br", "identity", "gzip;q=0", "gzip; q=0.000", "x-gzipped"]) {
    assert.equal(accepts(value), false, String(value));
  }
});

Deno.test("error and JSON answers: the status, JSON content type, one line of JSON", async () => {
  const error = errorResponse(404, 'no "such" file', {
    "x-extra": "1",
    "content-type": "text/html",
  });
  assert.equal(error.status, 404);
  assert.equal(error.headers.get("content-type"), "application/json");
  assert.equal(error.headers.get("x-extra"), "1");
  assert.equal(await error.text(), '{"error":"no \\"such\\" file"}\n');
  const json = jsonResponse({ ok: true, n: [1, 2] }, 201, { etag: '"e"' });
  assert.equal(json.status, 201);
  assert.equal(json.headers.get("etag"), '"e"');
  assert.equal(json.headers.get("content-type"), "application/json");
  assert.deepEqual(JSON.parse(await json.text()), { ok: true, n: [1, 2] });
});

Deno.test("a whole file: 200, its ETag, a Content-Length that is its size, every byte", async () => {
  await withFile(async ({ answer }) => {
    const whole = await answer();
    assert.equal(whole.status, 200);
    assert.equal(whole.headers.get("content-length"), String(SIZE));
    assert.equal(whole.headers.get("etag"), ETAG);
    assert.equal(whole.headers.get("accept-ranges"), "bytes");
    assert.equal(whole.headers.get("content-type"), "application/octet-stream");
    assert.equal(whole.headers.get("cache-control"), "immutable");
    assert.equal(whole.headers.get("content-range"), null);
    assert.deepEqual(whole.body, FILE_BYTES);
    assert.equal(whole.counted, SIZE);
  });
});

Deno.test("HEAD: the headers a GET would get, no body, nothing counted", async () => {
  await withFile(async ({ answer }) => {
    const head = await answer({}, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("content-length"), String(SIZE));
    assert.equal(head.headers.get("etag"), ETAG);
    assert.equal(head.body.byteLength, 0);
    assert.equal(head.counted, 0);
    const range = await answer({ range: "bytes=100-199" }, { method: "HEAD" });
    assert.equal(range.status, 206);
    assert.equal(range.headers.get("content-length"), "100");
    assert.equal(range.headers.get("content-range"), `bytes 100-199/${SIZE}`);
    assert.equal(range.body.byteLength, 0);
    assert.equal(range.counted, 0);
  });
});

Deno.test("If-None-Match that matches: 304 with the ETag and no body (GET and HEAD)", async () => {
  await withFile(async ({ answer }) => {
    for (const value of [ETAG, `W/${ETAG}`, `"old", ${ETAG}`, "*"]) {
      for (const method of ["GET", "HEAD"]) {
        const cached = await answer({ "if-none-match": value }, { method });
        assert.equal(cached.status, 304, `${method} ${value}`);
        assert.equal(cached.headers.get("etag"), ETAG);
        assert.equal(cached.body.byteLength, 0);
        assert.equal(cached.counted, 0);
      }
    }
    // Before a range: a client that has the file gets 304, not a piece of it.
    const both = await answer({ "if-none-match": ETAG, range: "bytes=0-9" });
    assert.equal(both.status, 304);
    const other = await answer({ "if-none-match": '"old"' });
    assert.equal(other.status, 200);
    assert.equal(other.body.byteLength, SIZE);
  });
});

Deno.test("a single range: 206, its Content-Range and Content-Length, exactly its bytes", async () => {
  await withFile(async ({ answer }) => {
    const cases: [string, number, number][] = [
      ["bytes=0-0", 0, 0],
      ["bytes=10-19", 10, 19],
      ["bytes=1000-140000", 1000, 140000], // across 64 KiB pieces
      [`bytes=${SIZE - 1}-${SIZE - 1}`, SIZE - 1, SIZE - 1],
      ["bytes=150000-", 150000, SIZE - 1], // open-ended
      ["bytes=199990-999999", 199990, SIZE - 1], // past the end: up to the end
      ["bytes=-10", SIZE - 10, SIZE - 1], // suffix
      ["bytes=-70000", SIZE - 70000, SIZE - 1],
      [`bytes=-${SIZE * 3}`, 0, SIZE - 1], // a suffix longer than the file: all of it
      [" bytes=5-9 ", 5, 9],
    ];
    for (const [range, start, end] of cases) {
      const piece = await answer({ range });
      assert.equal(piece.status, 206, range);
      assert.equal(piece.headers.get("content-range"), `bytes ${start}-${end}/${SIZE}`, range);
      assert.equal(piece.headers.get("content-length"), String(end - start + 1), range);
      assert.equal(piece.headers.get("etag"), ETAG);
      assert.deepEqual(piece.body, FILE_BYTES.subarray(start, end + 1), range);
      assert.equal(piece.counted, end - start + 1, range);
    }
  });
});

Deno.test("an unsatisfiable range: 416 with `bytes */size` and no body", async () => {
  await withFile(async ({ answer }) => {
    for (
      const range of [`bytes=${SIZE}-`, `bytes=${SIZE + 5}-${SIZE + 10}`, "bytes=-0", "bytes=9-3"]
    ) {
      const refused = await answer({ range });
      assert.equal(refused.status, 416, range);
      assert.equal(refused.headers.get("content-range"), `bytes */${SIZE}`, range);
      assert.equal(refused.body.byteLength, 0, range);
      assert.equal(refused.counted, 0, range);
    }
  });
});

Deno.test("several ranges, another unit or a malformed header: the whole file, 200", async () => {
  await withFile(async ({ answer }) => {
    for (
      const range of [
        "bytes=0-1,5-6",
        "bytes=0-1, -5",
        "items=0-5",
        "bytes=abc",
        "bytes=-",
        "bytes 0-5",
      ]
    ) {
      const whole = await answer({ range });
      assert.equal(whole.status, 200, range);
      assert.equal(whole.headers.get("content-range"), null, range);
      assert.equal(whole.headers.get("content-length"), String(SIZE), range);
      assert.deepEqual(whole.body, FILE_BYTES, range);
    }
  });
});

Deno.test("If-Range: the range only while the ETag still matches, else the whole file", async () => {
  await withFile(async ({ answer }) => {
    const same = await answer({ range: "bytes=0-99", "if-range": ETAG });
    assert.equal(same.status, 206);
    assert.equal(same.body.byteLength, 100);
    for (const ifRange of ['"changed"', `W/${ETAG}`, "Wed, 21 Oct 2015 07:28:00 GMT"]) {
      const changed = await answer({ range: "bytes=0-99", "if-range": ifRange });
      assert.equal(changed.status, 200, ifRange);
      assert.deepEqual(changed.body, FILE_BYTES, ifRange);
    }
  });
});

Deno.test("without `ranges` a Range header is ignored and none is advertised", async () => {
  await withFile(async ({ answer }) => {
    const whole = await answer({ range: "bytes=0-9" }, { ranges: false });
    assert.equal(whole.status, 200);
    assert.equal(whole.headers.get("accept-ranges"), null);
    assert.equal(whole.headers.get("content-range"), null);
    assert.deepEqual(whole.body, FILE_BYTES);
  });
});

Deno.test("an empty file: 200 with Content-Length 0, whatever range is asked for", async () => {
  await withFile(async ({ answer, emptyPath }) => {
    const whole = await answer({}, { path: emptyPath });
    assert.equal(whole.status, 200);
    assert.equal(whole.headers.get("content-length"), "0");
    assert.equal(whole.body.byteLength, 0);
    // A suffix of an empty file names no byte: the whole (empty) file, never `bytes 0--1/0`.
    const suffix = await answer({ range: "bytes=-5" }, { path: emptyPath });
    assert.equal(suffix.status, 200);
    assert.equal(suffix.headers.get("content-range"), null);
    assert.equal(suffix.headers.get("content-length"), "0");
    assert.equal(suffix.body.byteLength, 0);
    const from = await answer({ range: "bytes=0-" }, { path: emptyPath });
    assert.equal(from.status, 416);
    assert.equal(from.headers.get("content-range"), "bytes */0");
  });
});

Deno.test("a file that is not there: undefined, for the caller to decide", async () => {
  await withFile(async ({ path }) => {
    const response = await fileResponse(new Request("http://x/"), {
      path: `${path}.missing`,
      etag: ETAG,
      headers: {},
      onBytes: () => assert.fail("nothing is served"),
    });
    assert.equal(response, undefined);
  });
});

Deno.test("bytes in memory: the file is not read; 200, HEAD and 304 as for a file", async () => {
  await withFile(async ({ answer, path }) => {
    for (const bytes of [new TextEncoder().encode('{"name":"small"}'), FILE_BYTES]) {
      const options = { path: `${path}.never-read`, bytes, ranges: false };
      const whole = await answer({}, options);
      assert.equal(whole.status, 200);
      assert.equal(whole.headers.get("content-length"), String(bytes.byteLength));
      assert.equal(whole.headers.get("etag"), ETAG);
      assert.deepEqual(whole.body, bytes);
      assert.equal(whole.counted, bytes.byteLength);
      const head = await answer({}, { ...options, method: "HEAD" });
      assert.equal(head.status, 200);
      assert.equal(head.headers.get("content-length"), String(bytes.byteLength));
      assert.equal(head.body.byteLength, 0);
      assert.equal(head.counted, 0);
      const cached = await answer({ "if-none-match": `W/${ETAG}` }, options);
      assert.equal(cached.status, 304);
      assert.equal(cached.body.byteLength, 0);
    }
  });
});
