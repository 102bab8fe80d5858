import assert from "node:assert/strict";
import { join } from "node:path";
import { BlobStore, type RemoveGuard } from "../../src/store/blob_store.ts";
import { type CacheAreas, CacheLimit, recordsWithoutBlob } from "../../src/store/cache_limit.ts";
import { AdjustableClock, systemClock } from "../../src/store/clock.ts";

/**
 * A blob store whose next removal first runs `beforeRemove`: the moment after a pass decided a
 * blob may go and before it is unlinked, where a writer can store the same bytes again.
 */
class RacingBlobStore extends BlobStore {
  beforeRemove: ((sha256: string) => Promise<void>) | undefined;

  override async remove(sha256: string, guard?: RemoveGuard): Promise<boolean> {
    const hook = this.beforeRemove;
    this.beforeRemove = undefined;
    if (hook) await hook(sha256);
    return await super.remove(sha256, guard);
  }
}

async function withStore<B extends BlobStore = BlobStore>(
  fn: (kv: Deno.Kv, blobs: B) => Promise<void>,
  Store: new (root: string, tmp: string) => B = BlobStore as unknown as new (
    root: string,
    tmp: string,
  ) => B,
) {
  const dir = await Deno.makeTempDir();
  const blobs = new Store(join(dir, "blobs"), join(dir, "tmp"));
  await blobs.init();
  const kv = await Deno.openKv(join(dir, "kv"));
  try {
    await fn(kv, blobs);
  } finally {
    kv.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Where the records are, as the server tells the cache limit (the store knows no ecosystem). */
const AREAS: CacheAreas = { publicFiles: [["npm", "tarball"]], privateOwners: ["npm"] };

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
    const limit = new CacheLimit(kv, blobs, 35 * 1024, systemClock, AREAS);
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

Deno.test("a public package whose name starts with 'private' is evicted like any other", async () => {
  await withStore(async (kv, blobs) => {
    // npm's private-ip, or a Go module under private.example.com: public, however named.
    const named = await publicFile(kv, blobs, "private-ip", 50_000);
    const recent = await publicFile(kv, blobs, "e", 10);
    const limit = new CacheLimit(kv, blobs, 15 * 1024, systemClock, AREAS);
    const result = await limit.enforce();
    assert.equal(result.evictedFiles, 1);
    assert.equal((await kv.get(named.key)).value, null, "the oldest public file went");
    assert.equal(await blobs.size(named.sha256), undefined);
    assert.notEqual((await kv.get(recent.key)).value, null);
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
    const limit = new CacheLimit(kv, blobs, null, systemClock, AREAS);
    const result = await limit.gc();
    assert.equal(result.orphanBlobs, 1);
    assert.equal(result.evictedFiles, 0, "no limit: nothing evicted");
    assert.equal(await blobs.size(orphan), undefined);
    assert.notEqual(await blobs.size(kept.sha256), undefined);
    assert.notEqual(await blobs.size(fresh), undefined, "too young to be an orphan");
    await limit.close();
  });
});

/** Every file record (public or private) whose blob is not in the store. */
async function danglingRecords(kv: Deno.Kv, blobs: BlobStore): Promise<string[]> {
  const dangling: string[] = [];
  for await (const entry of kv.list<{ sha256?: string }>({ prefix: [] })) {
    const sha256 = entry.value?.sha256;
    if (typeof sha256 === "string" && await blobs.size(sha256) === undefined) {
      dangling.push(JSON.stringify(entry.key));
    }
  }
  return dangling;
}

Deno.test("a file used a second ago is evicted like any other when it is the least recently used", async () => {
  await withStore(async (kv, blobs) => {
    const clock = new AdjustableClock();
    const files = [];
    for (const name of ["a", "b", "c", "d"]) files.push(await publicFile(kv, blobs, name, 1000));
    const limit = new CacheLimit(kv, blobs, 25 * 1024, clock, AREAS);
    // All of them used within the last few milliseconds, a first.
    for (const file of files) {
      limit.touch(file.key);
      clock.advance(10);
    }
    await limit.enforce();
    assert.ok(blobs.usage().bytes <= 25 * 1024 * 0.9, `${blobs.usage().bytes} bytes left`);
    assert.equal(await blobs.size(files[0].sha256), undefined, "the least recently used went");
    assert.notEqual(await blobs.size(files[3].sha256), undefined);
    await limit.close();
  });
});

Deno.test("a file a request is about to open is spared; the pass runs again once it is released", async () => {
  await withStore(async (kv, blobs) => {
    const a = await publicFile(kv, blobs, "a", 50_000);
    const b = await publicFile(kv, blobs, "b", 40_000);
    const limit = new CacheLimit(kv, blobs, 15 * 1024, systemClock, AREAS);
    const releaseA = limit.reading(a.key);
    const releaseB = limit.reading(b.key);
    await limit.enforce();
    assert.notEqual(await blobs.size(a.sha256), undefined, "being opened: spared");
    assert.notEqual(await blobs.size(b.sha256), undefined, "being opened: spared");
    releaseB();
    releaseB(); // a second call does nothing
    for (let i = 0; i < 100 && await blobs.size(b.sha256) !== undefined; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.equal(await blobs.size(b.sha256), undefined, "evicted once released, by itself");
    assert.notEqual(await blobs.size(a.sha256), undefined, "under the limit again: a stays");
    releaseA();
    await limit.close();
  });
});

Deno.test("eviction racing a new record for the same bytes never leaves a record without its blob", async () => {
  await withStore<RacingBlobStore>(async (kv, blobs) => {
    const old = await publicFile(kv, blobs, "a", 3_600_000);
    const bytes = (await blobs.readBytes(old.sha256))!;
    const limit = new CacheLimit(kv, blobs, 5 * 1024, systemClock, AREAS);
    // After the pass deleted a's record and decided its blob may go: the same bytes are stored
    // again under another name (a download of an alias, say) and recorded.
    const copy = ["npm", "tarball", "alias", "alias-1.0.0.tgz"];
    blobs.beforeRemove = async (sha256) => {
      assert.equal(sha256, old.sha256);
      await blobs.putBytes(bytes);
      await kv.set(copy, { sha256, size: bytes.byteLength, storedAt: Date.now() });
    };
    await limit.enforce();
    assert.equal((await kv.get(old.key)).value, null, "a was evicted");
    assert.equal(blobs.beforeRemove, undefined, "the race was run");
    assert.deepEqual(await danglingRecords(kv, blobs), []);
    assert.deepEqual(await recordsWithoutBlob(kv, blobs, AREAS), []);
    assert.deepEqual(await blobs.readBytes(old.sha256), bytes);
    await limit.close();
  }, RacingBlobStore);
});

Deno.test("eviction never deletes a blob stored again just before the pass, whose record is on its way", async () => {
  await withStore(async (kv, blobs) => {
    const old = await publicFile(kv, blobs, "a", 3_600_000);
    const bytes = (await blobs.readBytes(old.sha256))!;
    // A writer stored the same bytes (renamed over the blob) and has not committed its record.
    await blobs.putBytes(bytes);
    const limit = new CacheLimit(kv, blobs, 5 * 1024, systemClock, AREAS);
    await limit.enforce();
    assert.equal((await kv.get(old.key)).value, null, "a's record was evicted");
    await kv.set(["npm", "private-file", "mine", "mine-1.0.0.tgz"], {
      filename: "mine-1.0.0.tgz",
      sha256: old.sha256,
      size: bytes.byteLength,
      version: "1.0.0",
    });
    assert.deepEqual(await danglingRecords(kv, blobs), []);
    await limit.close();
  });
});

Deno.test("the orphan sweep racing a publish of the same bytes never leaves a record without its blob", async () => {
  await withStore<RacingBlobStore>(async (kv, blobs) => {
    const bytes = new TextEncoder().encode("published once, removed, published again");
    const orphan = await blobs.putBytes(bytes);
    const anHourAgo = new Date(Date.now() - 3600_000);
    await Deno.utime(blobs.pathOf(orphan), anHourAgo, anHourAgo);
    blobs.beforeRemove = async (sha256) => {
      await blobs.putBytes(bytes);
      await kv.set(["pypi", "private-file", "mine", "mine-1.0.tar.gz"], {
        filename: "mine-1.0.tar.gz",
        sha256,
        size: bytes.byteLength,
        version: "1.0",
      });
    };
    const limit = new CacheLimit(kv, blobs, null, systemClock, AREAS);
    const result = await limit.gc();
    assert.equal(blobs.beforeRemove, undefined, "the race was run");
    assert.deepEqual(await danglingRecords(kv, blobs), []);
    assert.equal(result.orphanBlobs, 0);
    assert.deepEqual(await blobs.readBytes(orphan), bytes);
    await limit.close();
  }, RacingBlobStore);
});

Deno.test("a pass that fails is logged, not swallowed", async () => {
  class FailingBlobStore extends BlobStore {
    override remove(): Promise<boolean> {
      return Promise.reject(new Error("input/output error (os error 5)"));
    }
  }
  await withStore<FailingBlobStore>(async (kv, blobs) => {
    await publicFile(kv, blobs, "a", 50_000);
    await publicFile(kv, blobs, "b", 40_000);
    const errors: string[] = [];
    const limit = new CacheLimit(kv, blobs, 15 * 1024, systemClock, AREAS, {
      onError: (message) => errors.push(message),
    });
    limit.afterStore();
    await limit.close();
    assert.equal(errors.length, 1, String(errors));
    assert.match(errors[0], /keeping the cache under its limit failed: .*os error 5/);
  }, FailingBlobStore);
});
