import assert from "node:assert/strict";
import { join } from "node:path";
import { BlobStore } from "../../src/store/blob_store.ts";
import { sha256Hex } from "../../src/store/hashing.ts";
import { JsonBlobCache } from "../../src/store/json_blob_cache.ts";
import { BASE_URL_PLACEHOLDER, RenderedDocuments } from "../../src/store/rendered_documents.ts";

async function withStore(fn: (store: BlobStore, dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir();
  const store = new BlobStore(join(dir, "blobs"), join(dir, "tmp"));
  await store.init();
  try {
    await fn(store, dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("blobs are stored under their sha256 and read back", async () => {
  await withStore(async (store) => {
    const bytes = new TextEncoder().encode("some document");
    const digest = await store.putBytes(bytes);
    assert.equal(digest, sha256Hex(bytes));
    assert.deepEqual(await store.readBytes(digest), bytes);
    assert.deepEqual(store.usage(), { bytes: bytes.length, blobs: 1 });
    assert.equal(await store.readBytes("0".repeat(64)), undefined);
  });
});

Deno.test("temp files left by a crash are discarded at start-up", async () => {
  await withStore(async (store, dir) => {
    const leftover = store.tempPath("crashed-download");
    await Deno.writeTextFile(leftover, "partial");
    const again = new BlobStore(join(dir, "blobs"), join(dir, "tmp"));
    await again.init();
    assert.deepEqual([...Deno.readDirSync(join(dir, "tmp"))], []);
  });
});

Deno.test("blob paths refuse anything but a sha256 digest", async () => {
  await withStore((store) => {
    assert.throws(() => store.pathOf("../../etc/passwd"), /not a sha256/);
    return Promise.resolve();
  });
});

Deno.test("documents render per base URL, plain and gzip, with distinct ETags", async () => {
  await withStore(async (store, dir) => {
    const rendered = new RenderedDocuments(join(dir, "rendered"), store);
    await rendered.init();
    const digest = await store.putBytes(
      new TextEncoder().encode(`{"t":"${BASE_URL_PLACEHOLDER}/a/-/a-1.tgz"}`),
    );
    const local = await rendered.get(digest, "http://127.0.0.1:3080/npm", false);
    const vm = await rendered.get(digest, "http://host.docker.internal:3080/npm", false);
    // The first request that accepts gzip gets the plain copy (here made already); then the gzip
    // copy is made in the background, and served from then on.
    const first = await rendered.get(digest, "http://127.0.0.1:3080/npm", true);
    assert.equal(first.gzip, false);
    await rendered.idle();
    const gz = await rendered.get(digest, "http://127.0.0.1:3080/npm", true);
    assert.equal(gz.gzip, true);
    assert.equal(
      await Deno.readTextFile(local.path),
      `{"t":"http://127.0.0.1:3080/npm/a/-/a-1.tgz"}`,
    );
    assert.match(await Deno.readTextFile(vm.path), /host\.docker\.internal/);
    const unzipped = await new Response(
      (await Deno.open(gz.path)).readable.pipeThrough(new DecompressionStream("gzip")),
    ).text();
    assert.equal(unzipped, await Deno.readTextFile(local.path));
    assert.notEqual(local.etag, vm.etag);
    assert.equal(gz.etag, local.etag); // one document, two encodings
  });
});

Deno.test("JSON records have no prototype: a client's key finds only what is in them", async () => {
  await withStore(async (store) => {
    type Index = Record<string, { sha256: string } | undefined>;
    const cache = new JsonBlobCache<Index>(store);
    const digest = await cache.put({ "a-1.0.tgz": { sha256: "1" } });
    // As kept in memory by put, and as read back from disk by another cache: the same.
    for (const read of [cache, new JsonBlobCache<Index>(store)]) {
      const record = await read.get(digest);
      assert.deepEqual(record["a-1.0.tgz"], Object.assign(Object.create(null), { sha256: "1" }));
      for (const key of ["constructor", "toString", "hasOwnProperty", "valueOf", "__proto__"]) {
        assert.equal(record[key], undefined, key);
        assert.equal(record["a-1.0.tgz"]![key as "sha256"], undefined, `nested ${key}`);
      }
    }
    await assert.rejects(cache.get("0".repeat(64)), Deno.errors.NotFound);
  });
});
