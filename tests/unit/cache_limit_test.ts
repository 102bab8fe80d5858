import assert from "node:assert/strict";
import { join } from "node:path";
import { BlobStore } from "../../src/store/blob_store.ts";
import { CacheLimit } from "../../src/store/cache_limit.ts";
import { systemClock } from "../../src/store/clock.ts";

async function withStore(fn: (kv: Deno.Kv, blobs: BlobStore) => Promise<void>) {
  const dir = await Deno.makeTempDir();
  const blobs = new BlobStore(join(dir, "blobs"), join(dir, "tmp"));
  await blobs.init();
  const kv = await Deno.openKv(join(dir, "kv"));
  try {
    await fn(kv, blobs);
  } finally {
    kv.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** A 10 KB public file recorded as the ecosystems do, stored `age` ms ago. */
async function publicFile(kv: Deno.Kv, blobs: BlobStore, name: string, age: number) {
  const bytes = new TextEncoder().encode(name.repeat(10_240).slice(0, 10_240));
  const sha256 = await blobs.putBytes(bytes);
  const key = ["npm", "tarball", name, `${name}-1.0.0.tgz`];
  await kv.set(key, { sha256, size: bytes.byteLength, storedAt: Date.now() - age });
  return { key, sha256 };
}

Deno.test("past the limit the least recently used public files go; private ones never", async () => {
  await withStore(async (kv, blobs) => {
    const oldest = await publicFile(kv, blobs, "a", 50_000);
    const old = await publicFile(kv, blobs, "b", 40_000);
    const used = await publicFile(kv, blobs, "c", 30_000);
    const recent = await publicFile(kv, blobs, "d", 10);
    // A private package's file, older than all of them: it exists nowhere else.
    const privateBytes = new TextEncoder().encode("p".repeat(10_240));
    const privateSha = await blobs.putBytes(privateBytes);
    await kv.set(["npm", "private-file", "mine", "mine-1.0.0.tgz"], {
      filename: "mine-1.0.0.tgz",
      sha256: privateSha,
      size: privateBytes.byteLength,
      version: "1.0.0",
    });
    const limit = new CacheLimit(kv, blobs, 35 * 1024, systemClock, 0);
    limit.touch(used.key); // served just now: the most recently used
    const result = await limit.enforce();
    assert.equal(result.evictedFiles, 2);
    assert.ok(blobs.usage().bytes <= 35 * 1024 * 0.9);
    for (const gone of [oldest, old]) {
      assert.equal((await kv.get(gone.key)).value, null);
      assert.equal(await blobs.size(gone.sha256), undefined);
    }
    for (const kept of [used, recent]) {
      assert.notEqual((await kv.get(kept.key)).value, null);
      assert.notEqual(await blobs.size(kept.sha256), undefined);
    }
    assert.notEqual(await blobs.size(privateSha), undefined, "private files are never evicted");
    await limit.close();
  });
});

Deno.test("gc removes old blobs nothing refers to, and nothing else", async () => {
  await withStore(async (kv, blobs) => {
    const kept = await publicFile(kv, blobs, "a", 0);
    const orphan = await blobs.putBytes(new TextEncoder().encode("left behind"));
    const fresh = await blobs.putBytes(new TextEncoder().encode("record about to be written"));
    const anHourAgo = new Date(Date.now() - 3600_000);
    await Deno.utime(blobs.pathOf(orphan), anHourAgo, anHourAgo);
    await Deno.utime(blobs.pathOf(kept.sha256), anHourAgo, anHourAgo);
    const limit = new CacheLimit(kv, blobs, null, systemClock);
    const result = await limit.gc();
    assert.equal(result.orphanBlobs, 1);
    assert.equal(result.evictedFiles, 0, "no limit: nothing evicted");
    assert.equal(await blobs.size(orphan), undefined);
    assert.notEqual(await blobs.size(kept.sha256), undefined);
    assert.notEqual(await blobs.size(fresh), undefined, "too young to be an orphan");
    await limit.close();
  });
});
