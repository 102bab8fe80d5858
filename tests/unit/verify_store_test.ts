import assert from "node:assert/strict";
import { BlobStore } from "../../src/store/blob_store.ts";
import { dataLayout } from "../../src/store/data_dir.ts";
import { verifyStore } from "../../scripts/verify_store.ts";

Deno.test("verify_store finds a blob whose bytes no longer match its digest", async () => {
  const dataDir = await Deno.makeTempDir();
  try {
    const layout = dataLayout(dataDir);
    const store = new BlobStore(layout.blobs, layout.tmp);
    await store.init();
    await store.putBytes(new TextEncoder().encode("good"));
    const victim = await store.putBytes(new TextEncoder().encode("soon bad"));
    assert.deepEqual(await verifyStore(dataDir), { checked: 2, bad: [] });
    await Deno.writeTextFile(store.pathOf(victim), "tampered");
    assert.deepEqual(await verifyStore(dataDir), { checked: 2, bad: [store.pathOf(victim)] });
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
