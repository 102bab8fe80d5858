// VerifiedDownloads on its own: a file is stored only once it matches its digest; a download
// reads at most the file's declared size (its Content-Length, else the size its index published,
// else max_file_size), and whatever fails leaves no temp file. The upstream is the hostile
// stand-in on loopback.
import assert from "node:assert/strict";
import { join } from "node:path";
import { BlobStore } from "../../src/store/blob_store.ts";
import { Stats } from "../../src/registry/stats.ts";
import { UpstreamRefusedError } from "../../src/upstream/errors.ts";
import { UpstreamClient } from "../../src/upstream/http_client.ts";
import {
  type DownloadSpec,
  type StoredFile,
  VerifiedDownloads,
} from "../../src/upstream/verified_download.ts";
import {
  endlessBody,
  type HostileUpstream,
  sha256Hex,
  startHostileUpstream,
} from "../support/hostile_upstream.ts";

const KiB = 1024;

interface Setup {
  upstream: HostileUpstream;
  blobs: BlobStore;
  /** Downloads `path` to the end; what was stored, or the error the download failed with. */
  download(path: string, spec?: Partial<DownloadSpec>): Promise<StoredFile | Error>;
  tempFiles(): string[];
}

async function withDownloads(fn: (setup: Setup) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "vm-download-" });
  const kv = await Deno.openKv(join(dir, "kv"));
  const stats = await Stats.load(kv, ["test"]);
  const upstream = startHostileUpstream();
  const blobs = new BlobStore(join(dir, "blobs"), join(dir, "tmp"));
  await blobs.init();
  const client = new UpstreamClient(stats.for("test"), {
    upstreams: [upstream.url],
    limits: { maxDocumentBytes: 64 * KiB, maxFileBytes: 256 * KiB },
  });
  const downloads = new VerifiedDownloads(blobs, client);
  let count = 0;
  const download = async (path: string, spec: Partial<DownloadSpec> = {}) => {
    let stored: StoredFile | undefined;
    let failed: Error | undefined;
    try {
      const active = await downloads.join({
        key: `test:${path}:${++count}`,
        url: `${upstream.url}${path}`,
        expected: { algorithm: "sha256", hex: "0".repeat(64) },
        onStored: (file) => {
          stored = file;
          return Promise.resolve();
        },
        onFailed: (error) => failed = error,
        ...spec,
      });
      await active.finished;
    } catch (error) {
      return error as Error;
    }
    return stored ?? failed!;
  };
  try {
    await fn({
      upstream,
      blobs,
      download,
      tempFiles: () => [...Deno.readDirSync(join(dir, "tmp"))].map((entry) => entry.name),
    });
  } finally {
    await downloads.idle();
    await upstream.close();
    await stats.close();
    kv.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a file that matches its digest is stored; the temp file is gone", async () => {
  await withDownloads(async ({ upstream, blobs, download, tempFiles }) => {
    const bytes = crypto.getRandomValues(new Uint8Array(32 * KiB));
    upstream.routes.set("/good.tgz", { body: bytes });
    const stored = await download("/good.tgz", {
      expected: { algorithm: "sha256", hex: sha256Hex(bytes) },
    });
    assert.deepEqual(stored, { sha256: sha256Hex(bytes), size: bytes.byteLength });
    assert.deepEqual(await blobs.readBytes(sha256Hex(bytes)), bytes);
    assert.deepEqual(tempFiles(), []);
  });
});

Deno.test("a file that never matches is not stored, and its temp file is removed", async () => {
  await withDownloads(async ({ upstream, download, tempFiles }) => {
    upstream.routes.set("/wrong.tgz", { body: new Uint8Array(32 * KiB).fill(1) });
    const failed = await download("/wrong.tgz");
    assert.match(String(failed), /integrity check failed/);
    assert.deepEqual(tempFiles(), []);
  });
});

Deno.test("without a Content-Length a download stops at the size the index published", async () => {
  await withDownloads(async ({ upstream, download, tempFiles }) => {
    upstream.routes.set("/endless.whl", { body: () => endlessBody(64 * 1024 * KiB) });
    const failed = await download("/endless.whl", { size: 8 * KiB });
    assert.ok(failed instanceof UpstreamRefusedError, String(failed));
    assert.match(failed.message, /body over the size its index published \(8192 bytes\)/);
    assert.ok(upstream.sentBytes("/endless.whl") < 32 * 1024 * KiB);
    assert.deepEqual(tempFiles(), []);
  });
});

Deno.test("without a Content-Length or a published size a download stops at max_file_size", async () => {
  await withDownloads(async ({ upstream, download, tempFiles }) => {
    upstream.routes.set("/endless.crate", { body: () => endlessBody(64 * 1024 * KiB) });
    const failed = await download("/endless.crate");
    assert.match(String(failed), /body over max_file_size \(262144 bytes\); transfer stopped/);
    // A published size larger than max_file_size does not raise it.
    const larger = await download("/endless.crate", { size: 1024 * KiB });
    assert.match(String(larger), /body over max_file_size/);
    assert.deepEqual(tempFiles(), []);
  });
});

Deno.test("a Content-Length that differs from the published size is refused before reading", async () => {
  await withDownloads(async ({ upstream, download, tempFiles }) => {
    upstream.routes.set("/short.whl", { body: new Uint8Array(1000) });
    const short = await download("/short.whl", { size: 8 * KiB });
    assert.match(String(short), /announces 1000 bytes where the index published 8192; not read/);
    upstream.routes.set("/long.whl", { body: new Uint8Array(16 * KiB) });
    const long = await download("/long.whl", { size: 8 * KiB });
    assert.match(
      String(long),
      /announces a body of 16384 bytes, over the size its index published/,
    );
    upstream.routes.set("/huge.crate", {
      headers: { "content-length": String(1024 * KiB) },
      body: () => endlessBody(1024 * KiB),
    });
    assert.match(String(await download("/huge.crate")), /over max_file_size \(262144 bytes\)/);
    assert.deepEqual(tempFiles(), []);
  });
});

Deno.test("a body longer than its Content-Length is cut there", async () => {
  await withDownloads(async ({ upstream, download, tempFiles }) => {
    upstream.routes.set("/lies.tgz", {
      headers: { "content-length": String(4 * KiB) },
      chunked: true,
      body: () => endlessBody(64 * 1024 * KiB),
    });
    const failed = await download("/lies.tgz");
    assert.match(String(failed), /sent more than its Content-Length of 4096 bytes/);
    assert.ok(upstream.sentBytes("/lies.tgz") < 32 * 1024 * KiB);
    assert.deepEqual(tempFiles(), []);
  });
});
