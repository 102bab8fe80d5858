// The bounded cache through the real server: past max_cache_size the least recently used public
// file is evicted, even while a client is still reading it (that client gets every byte), and
// `vm pkg gc` / `POST /-/gc` needs the token.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { runVm } from "../support/cli.ts";
import { readBody, withRegistry } from "../support/registry.ts";
import { startStandInUpstream } from "../support/stand_in_upstream.ts";

const MiB = 1024 * 1024;

Deno.test("past the size limit the least recently used file goes, even mid-read", async () => {
  // Three upstreams with a 1 MiB file each, as an npm tarball, a wheel and a .crate.
  const [a, b, c] = [0, 1, 2].map(() => startStandInUpstream({ size: MiB }));
  try {
    await withRegistry({
      upstreams: {
        npm_upstream: a.url,
        pypi_upstream: `${b.url}/simple`,
        cargo_upstream: `${c.url}/index`,
        cargo_files_upstream: `${c.url}/crates`,
      },
      maxCacheBytes: Math.floor(2.5 * MiB),
      evictionGraceMs: 0,
    }, async (registry) => {
      const urlA = `${registry.npmUrl}/${a.name}/-/${a.filename}`;
      const pageB = await fetch(`${registry.url}/pypi/simple/${b.name}/`);
      await pageB.body?.cancel();
      const urlB = `${registry.url}/pypi/files/${b.name}/${b.filename}`;
      const urlC = `${registry.url}/cargo/api/v1/crates/${c.name}/${c.version}/download`;

      assert.deepEqual(await readBody(await fetch(urlA)), a.tarball);
      assert.deepEqual(await readBody(await fetch(urlB)), b.tarball);
      // A slow client starts reading A (now the least recently used once B is read again)...
      const slow = await fetch(urlA);
      const reader = slow.body!.getReader();
      const first = await reader.read();
      assert.deepEqual(await readBody(await fetch(urlB)), b.tarball);
      // ...and C pushes the store past 2.5 MiB: A is evicted while it is being read.
      assert.deepEqual(await readBody(await fetch(urlC)), c.tarball);
      const status = await registry.status();
      for (let i = 0; i < 50 && (await registry.status()).cache.bytes > 2.5 * MiB; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.equal(status.cache.limit, Math.floor(2.5 * MiB));
      assert.ok((await registry.status()).cache.bytes <= 2.5 * MiB * 0.9, "back under 90%");

      const rest: Uint8Array[] = [first.value!];
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
        rest.push(chunk.value);
      }
      const whole = new Uint8Array(await new Blob(rest as BlobPart[]).arrayBuffer());
      assert.equal(sha256(whole), sha256(a.tarball), "the reader got every byte");

      // A was evicted: the next request downloads it again.
      const before = a.tarballRequests;
      assert.deepEqual(await readBody(await fetch(urlA)), a.tarball);
      assert.equal(a.tarballRequests, before + 1);

      const refused = await fetch(`${registry.url}/-/gc`, { method: "POST" });
      await refused.body?.cancel();
      assert.equal(refused.status, 401);
      const gc = await runVm(["pkg", "gc", "--server", registry.url, "--data", registry.dataDir]);
      assert.equal(gc.code, 0, gc.stderr);
      assert.match(gc.stdout, /^evicted \d+ cached files \(.*\), removed \d+ unreferenced blobs/);
    });
  } finally {
    for (const upstream of [a, b, c]) await upstream.close();
  }
});

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}
