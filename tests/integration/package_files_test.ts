// Range requests and validators on cached package files (served by the shared file code).
import assert from "node:assert/strict";
import { readBody, withRegistry } from "../support/registry.ts";
import { startStandInUpstream } from "../support/stand_in_upstream.ts";

Deno.test("cached files answer single ranges; files still downloading do not offer them", async () => {
  const upstream = startStandInUpstream({ size: 100_000 });
  try {
    await withRegistry({ upstreams: { npm_upstream: upstream.url } }, async (registry) => {
      const url = `${registry.npmUrl}/${upstream.name}/-/${upstream.filename}`;
      const miss = await fetch(url, { headers: { range: "bytes=0-9" } });
      assert.equal(miss.status, 200);
      assert.equal(miss.headers.get("accept-ranges"), null);
      assert.deepEqual(await readBody(miss), upstream.tarball);

      const head = await fetch(url, { method: "HEAD" });
      assert.equal(head.headers.get("accept-ranges"), "bytes");
      assert.equal(head.headers.get("content-length"), "100000");
      await head.body?.cancel();

      const cases: [string, number, number, number][] = [
        ["bytes=0-9", 206, 0, 10],
        ["bytes=99990-", 206, 99_990, 100_000],
        ["bytes=-22", 206, 99_978, 100_000],
        ["bytes=99000-200000", 206, 99_000, 100_000],
      ];
      for (const [range, status, from, to] of cases) {
        const response = await fetch(url, { headers: { range } });
        assert.equal(response.status, status, range);
        assert.equal(
          response.headers.get("content-range"),
          `bytes ${from}-${to - 1}/100000`,
          range,
        );
        assert.deepEqual(await readBody(response), upstream.tarball.slice(from, to), range);
      }
      const unsatisfiable = await fetch(url, { headers: { range: "bytes=100000-" } });
      assert.equal(unsatisfiable.status, 416);
      assert.equal(unsatisfiable.headers.get("content-range"), "bytes */100000");
      await unsatisfiable.body?.cancel();
      const several = await fetch(url, { headers: { range: "bytes=0-1,5-6" } });
      assert.equal(several.status, 200);
      assert.equal((await readBody(several)).length, 100_000);
      const staleIfRange = await fetch(url, {
        headers: { range: "bytes=0-9", "if-range": '"not-the-etag"' },
      });
      assert.equal(staleIfRange.status, 200);
      await staleIfRange.body?.cancel();
      assert.equal(upstream.tarballRequests, 1);
    });
  } finally {
    await upstream.close();
  }
});

Deno.test("HEAD of a file not cached yet: the headers a GET would send, no body, nothing left open", async () => {
  const upstream = startStandInUpstream({ size: 300_000 });
  try {
    await withRegistry({ upstreams: { npm_upstream: upstream.url } }, async (registry) => {
      const url = `${registry.npmUrl}/${upstream.name}/-/${upstream.filename}`;
      // The HEAD starts the download (as the GET route does) and follows none of it.
      const head = await fetch(url, { method: "HEAD" });
      assert.equal(head.status, 200);
      assert.equal((await head.arrayBuffer()).byteLength, 0);
      assert.equal((await registry.counters()).servedBytes, 0, "nothing was sent");
      const get = await fetch(url);
      assert.deepEqual(await readBody(get), upstream.tarball);
      assert.equal(upstream.tarballRequests, 1, "one download for both");
      // The test's sanitizers fail it if the HEAD left the download's temp file open.
    });
  } finally {
    await upstream.close();
  }
});
