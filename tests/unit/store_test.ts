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

Deno.test("a base that is not kept is rendered for its request alone, never stored; big ones streamed", async () => {
  await withStore(async (store, dir) => {
    const kept = "http://127.0.0.1:3080/npm";
    const rendered = new RenderedDocuments(join(dir, "rendered"), store, {
      storedBases: () => new Set([kept]),
    });
    await rendered.init();
    const small = await store.putBytes(
      new TextEncoder().encode(`{"t":"${BASE_URL_PLACEHOLDER}/a/-/a-1.tgz"}`),
    );
    const other = await rendered.get(small, "http://client-7.example:3080/npm", true);
    assert.equal(other.path, "");
    assert.equal(other.gzip, false);
    assert.equal(
      new TextDecoder().decode(other.bytes),
      `{"t":"http://client-7.example:3080/npm/a/-/a-1.tgz"}`,
    );
    // A big template, with placeholders across the 64 KiB pieces it is streamed in.
    let template = "";
    while (template.length < 300 * 1024) {
      template += "x".repeat(65_536 - 7 - (template.length % 65_536)) +
        `"${BASE_URL_PLACEHOLDER}/b/-/b-${template.length}.tgz",`;
    }
    const big = await store.putBytes(new TextEncoder().encode(template));
    const streamed = await rendered.get(big, "http://client-8.example:3080/npm", false);
    assert.ok(streamed.stream && !streamed.bytes);
    let counted = 0;
    const text = await new Response(streamed.stream((n) => counted += n)).text();
    const expected = template.replaceAll(BASE_URL_PLACEHOLDER, "http://client-8.example:3080/npm");
    assert.equal(text, expected);
    assert.equal(counted, new TextEncoder().encode(expected).byteLength);
    await rendered.idle();
    assert.deepEqual(rendered.usage(), { bytes: 0, files: 0 });
    assert.deepEqual([...Deno.readDirSync(join(dir, "rendered"))], [], "nothing on disk");
    // A kept base is stored as before.
    await rendered.get(small, kept, false);
    await rendered.idle();
    assert.equal(rendered.usage().files, 1);
  });
});

Deno.test("renderings are counted, pruned when their document or base is gone, evicted oldest first", async () => {
  await withStore(async (store, dir) => {
    let bases = new Set(["http://127.0.0.1:3080/npm", "http://localhost:3080/npm"]);
    const rendered = new RenderedDocuments(join(dir, "rendered"), store, {
      storedBases: () => bases,
    });
    await rendered.init();
    const digests: string[] = [];
    for (const n of [1, 2, 3]) {
      digests.push(
        await store.putBytes(
          new TextEncoder().encode(`{"n":${n},"t":"${BASE_URL_PLACEHOLDER}/a/-/a-1.tgz"}`),
        ),
      );
    }
    const paths: string[] = [];
    for (const digest of digests) {
      for (const base of bases) paths.push((await rendered.get(digest, base, false)).path);
    }
    await rendered.idle();
    const sizes = paths.map((path) => Deno.statSync(path).size);
    const total = sizes.reduce((a, b) => a + b);
    assert.deepEqual(rendered.usage(), { bytes: total, files: 6 });
    // A fresh start counts what is on disk.
    const again = new RenderedDocuments(join(dir, "rendered"), store);
    await again.init();
    assert.deepEqual(again.usage(), rendered.usage());

    // The first document is replaced (no record refers to it), localhost is no longer kept.
    bases = new Set(["http://127.0.0.1:3080/npm"]);
    const pruned = await rendered.prune((digest) => digest !== digests[0]);
    assert.equal(pruned.files, 4); // both of the first document, localhost's of the others
    assert.deepEqual(rendered.usage(), { bytes: sizes[2] + sizes[4], files: 2 });
    const oldest = paths[2];
    await Deno.utime(oldest, new Date(0), new Date(0));
    const evicted = await rendered.evictOldest(1);
    assert.deepEqual(evicted, { files: 1, bytes: sizes[2] });
    assert.throws(() => Deno.statSync(oldest), Deno.errors.NotFound);
    assert.deepEqual(rendered.usage(), { bytes: sizes[4], files: 1 });
  });
});

Deno.test("a document without a placeholder is its blob: only its gzip copy is made", async () => {
  await withStore(async (store, dir) => {
    const rendered = new RenderedDocuments(join(dir, "rendered"), store);
    await rendered.init();
    const digest = await store.putBytes(new TextEncoder().encode('<a href="../f/x.whl">x</a>'));
    const plain = await rendered.get(digest, "", true);
    assert.equal(plain.path, store.pathOf(digest));
    await rendered.idle();
    const gz = await rendered.get(digest, "", true);
    assert.equal(gz.gzip, true);
    assert.equal(rendered.usage().files, 1, "the gzip copy only");
  });
});

Deno.test({
  name: "blobs, renderings and their directories are the owner's only",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    await withStore(async (store, dir) => {
      const rendered = new RenderedDocuments(join(dir, "rendered"), store);
      await rendered.init();
      const doc = await store.putBytes(new TextEncoder().encode(`"${BASE_URL_PLACEHOLDER}"`));
      const durable = await store.putBytes(new TextEncoder().encode("private"), { durable: true });
      // A download's temp file, written by whoever (mode 0644), committed.
      const temp = store.tempPath("download");
      await Deno.writeTextFile(temp, "downloaded", { mode: 0o644 });
      await Deno.chmod(temp, 0o644);
      const downloaded = sha256Hex(new TextEncoder().encode("downloaded"));
      await store.commit(temp, downloaded);
      const { path } = await rendered.get(doc, "http://127.0.0.1:3080/npm", false);
      await rendered.idle();
      const mode = (p: string) => (Deno.statSync(p).mode! & 0o777).toString(8);
      for (const blob of [doc, durable, downloaded]) assert.equal(mode(store.pathOf(blob)), "600");
      assert.equal(mode(path), "600");
      for (const directory of ["blobs", "tmp", "rendered", join("blobs", "sha256")]) {
        assert.equal(mode(join(dir, directory)), "700", directory);
      }
      assert.equal(mode(join(path, "..")), "700");
    });
  },
});
