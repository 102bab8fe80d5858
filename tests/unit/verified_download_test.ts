// VerifiedDownloads on its own: a file is stored only once it matches its digest; a download
// reads at most the file's declared size (its Content-Length, else the size its index published,
// else max_file_size), and whatever fails (mismatch, truncation, a cut connection, an error
// status, a foreign redirect) leaves no temp file and nothing stored. Clients asking for one
// file at once share one upstream fetch and follow it as it is written, never getting its last
// byte before it is verified. The upstream is the hostile stand-in on loopback, held mid-body
// when a test needs clients to meet a running download.
import assert from "node:assert/strict";
import { join } from "node:path";
import { Stats } from "../../src/registry/stats.ts";
import { BlobStore, DiskFullError } from "../../src/store/blob_store.ts";
import {
  UpstreamRefusedError,
  UpstreamStatusError,
  UpstreamUnavailableError,
} from "../../src/upstream/errors.ts";
import { UpstreamClient } from "../../src/upstream/http_client.ts";
import {
  type ActiveDownload,
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
import { gate, pausedBody, randomBytes, receive } from "./ecosystem_fixture.ts";

const KiB = 1024;

interface Setup {
  upstream: HostileUpstream;
  blobs: BlobStore;
  downloads: VerifiedDownloads;
  /** A spec for `path` whose file must hash to `bytes`; what it stored goes to `stored`. */
  spec(path: string, bytes: Uint8Array, stored?: StoredFile[]): DownloadSpec;
  /** Downloads `path` to the end; what was stored, or the error the download failed with. */
  download(path: string, spec?: Partial<DownloadSpec>): Promise<StoredFile | Error>;
  tempFiles(): string[];
}

async function withDownloads(
  fn: (setup: Setup) => Promise<void>,
  options: { freeBytes?: number } = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "vm-download-" });
  const kv = await Deno.openKv(join(dir, "kv"));
  const stats = await Stats.load(kv, ["test"]);
  const upstream = startHostileUpstream();
  const blobs = options.freeBytes === undefined
    ? new BlobStore(join(dir, "blobs"), join(dir, "tmp"))
    : new SmallDisk(join(dir, "blobs"), join(dir, "tmp"), options.freeBytes);
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
      downloads,
      spec: (path, bytes, stored = []) => ({
        key: `test:${path}`,
        url: `${upstream.url}${path}`,
        expected: { algorithm: "sha256", hex: sha256Hex(bytes) },
        onStored: (file) => {
          stored.push(file);
          return Promise.resolve();
        },
      }),
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

/** A store on a disk with `free` bytes left. */
class SmallDisk extends BlobStore {
  constructor(root: string, tmp: string, readonly free: number) {
    super(root, tmp);
  }

  override freeBytes(): Promise<number | undefined> {
    return Promise.resolve(this.free);
  }
}

/**
 * A client of `download` that has received its first chunk (proof that bytes have arrived); the
 * stream returned gives that chunk and the rest.
 */
async function startedClient(download: ActiveDownload): Promise<ReadableStream<Uint8Array>> {
  const reader = download.follow(() => {}).getReader();
  const first = await reader.read();
  assert.ok(!first.done && first.value.byteLength > 0);
  return new ReadableStream<Uint8Array>({
    start: (controller) => controller.enqueue(first.value),
    pull: async (controller) => {
      const { value, done } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel: (reason) => reader.cancel(reason),
  });
}

Deno.test("one missing file asked for by many at once: one upstream fetch, the same bytes for all", async () => {
  await withDownloads(async ({ upstream, blobs, downloads, spec, tempFiles }) => {
    const bytes = randomBytes(200 * KiB);
    const paused = gate();
    upstream.routes.set("/popular.tgz", {
      headers: { "content-length": String(bytes.byteLength) },
      body: () => pausedBody(bytes, 32 * KiB, paused.promise),
    });
    const stored: StoredFile[] = [];
    const early = await Promise.all(
      Array.from({ length: 10 }, () => downloads.join(spec("/popular.tgz", bytes, stored))),
    );
    assert.ok(early.every((download) => download === early[0]), "one download for all");
    const active = early[0];
    // Bytes have arrived and the upstream is held mid-body: these clients join a running download.
    const firstClient = await startedClient(active);
    assert.equal(tempFiles().length, 1);
    const late = await Promise.all(
      Array.from({ length: 10 }, () => downloads.join(spec("/popular.tgz", bytes, stored))),
    );
    assert.ok(late.every((download) => download === active), "late clients join it too");
    const bodies = [firstClient, ...[...early.slice(1), ...late].map((d) => d.follow(() => {}))]
      .map(receive);
    paused.open();
    const received = await Promise.all(bodies);
    assert.equal(received.length, 20);
    for (const { bytes: body, error } of received) {
      assert.equal(error, undefined);
      assert.equal(body.byteLength, bytes.byteLength);
      assert.deepEqual(body, bytes);
    }
    assert.deepEqual(upstream.requests, ["/popular.tgz"]);
    assert.deepEqual(stored, [{ sha256: sha256Hex(bytes), size: bytes.byteLength }]);
    assert.deepEqual(await blobs.readBytes(sha256Hex(bytes)), bytes);
    assert.deepEqual(tempFiles(), []);
  });
});

Deno.test("the last byte waits for the digest: on a mismatch every client's body fails short", async () => {
  await withDownloads(async ({ upstream, blobs, downloads, spec, tempFiles }) => {
    const published = randomBytes(100 * KiB);
    const tampered = published.slice();
    tampered[tampered.byteLength - 1] ^= 0xff; // only the very last byte differs
    upstream.routes.set("/tampered.tgz", { body: tampered });
    const stored: StoredFile[] = [];
    const active = await downloads.join(spec("/tampered.tgz", published, stored));
    const clients = await Promise.all(
      Array.from({ length: 5 }, () => receive(active.follow(() => {}))),
    );
    for (const { bytes, error } of clients) {
      assert.match(String(error), /integrity check failed for test:\/tampered\.tgz/);
      assert.ok(bytes.byteLength < tampered.byteLength, "the last byte was never sent");
      assert.deepEqual(bytes, tampered.subarray(0, bytes.byteLength));
    }
    assert.equal(active.state, "failed");
    assert.deepEqual(stored, []);
    assert.equal(await blobs.readBytes(sha256Hex(tampered)), undefined);
    assert.deepEqual(tempFiles(), []);

    // The failure does not stick to the file: once the upstream is right, it is downloaded again.
    upstream.routes.set("/tampered.tgz", { body: published });
    const again = await downloads.join(spec("/tampered.tgz", published, stored));
    assert.notEqual(again, active);
    assert.deepEqual((await receive(again.follow(() => {}))).bytes, published);
    assert.deepEqual(stored, [{ sha256: sha256Hex(published), size: published.byteLength }]);
    assert.deepEqual(upstream.requests, ["/tampered.tgz", "/tampered.tgz"]);
  });
});

Deno.test("a connection cut mid-body (short of its Content-Length): nothing stored, no temp file", async () => {
  await withDownloads(async ({ upstream, blobs, downloads, spec, tempFiles }) => {
    const bytes = randomBytes(128 * KiB);
    const cut = gate();
    upstream.routes.set("/cut.tgz", {
      headers: { "content-length": String(bytes.byteLength) },
      body: () => pausedBody(bytes, 64 * KiB, cut.promise, true),
    });
    const failures: Error[] = [];
    const stored: StoredFile[] = [];
    const active = await downloads.join({
      ...spec("/cut.tgz", bytes, stored),
      onFailed: (error) => failures.push(error),
    });
    const client = receive(await startedClient(active));
    const other = receive(active.follow(() => {}));
    assert.equal(tempFiles().length, 1, "mid-download the bytes are in a temp file");
    cut.open();
    for (const { bytes: body, error } of [await client, await other]) {
      assert.ok(error instanceof UpstreamUnavailableError, String(error));
      assert.ok(body.byteLength < 64 * KiB, `${body.byteLength} bytes sent`);
    }
    await active.finished;
    assert.equal(active.state, "failed");
    assert.equal(failures.length, 1);
    assert.match(failures[0].message, /unavailable: transfer failed/);
    assert.deepEqual(stored, []);
    assert.equal(await blobs.readBytes(sha256Hex(bytes)), undefined);
    assert.deepEqual(tempFiles(), []);
  });
});

Deno.test("a body that ends cleanly short of its published size is truncated: nothing stored", async () => {
  await withDownloads(async ({ upstream, download, blobs, tempFiles }) => {
    const bytes = randomBytes(8 * KiB);
    // Chunked, no Content-Length: only the size the index published says it is short.
    upstream.routes.set("/short.whl", { chunked: true, body: bytes.subarray(0, 4 * KiB) });
    const failed = await download("/short.whl", {
      size: bytes.byteLength,
      expected: { algorithm: "sha256", hex: sha256Hex(bytes) },
    });
    assert.ok(failed instanceof UpstreamUnavailableError, String(failed));
    assert.match(failed.message, /truncated body: 4096 of 8192 bytes/);
    assert.equal(await blobs.readBytes(sha256Hex(bytes.subarray(0, 4 * KiB))), undefined);
    assert.deepEqual(tempFiles(), []);
  });
});

Deno.test("a redirect to another origin is refused: nothing fetched there, nothing stored", async () => {
  await withDownloads(async ({ upstream, download, tempFiles }) => {
    const foreign = startHostileUpstream();
    try {
      const bytes = randomBytes(4 * KiB);
      foreign.routes.set("/x.tgz", { body: bytes });
      upstream.routes.set("/moved.tgz", {
        status: 302,
        headers: { location: `${foreign.url}/x.tgz` },
      });
      const failed = await download("/moved.tgz", {
        expected: { algorithm: "sha256", hex: sha256Hex(bytes) },
      });
      assert.ok(failed instanceof UpstreamRefusedError, String(failed));
      assert.match(failed.message, /redirected to .*outside the configured upstreams/);
      assert.deepEqual(foreign.requests, []);
      assert.deepEqual(tempFiles(), []);
      // Within the upstream a redirect is followed.
      upstream.routes.set("/here.tgz", { status: 301, headers: { location: "/real.tgz" } });
      upstream.routes.set("/real.tgz", { body: bytes });
      const stored = await download("/here.tgz", {
        expected: { algorithm: "sha256", hex: sha256Hex(bytes) },
      });
      assert.deepEqual(stored, { sha256: sha256Hex(bytes), size: bytes.byteLength });
    } finally {
      await foreign.close();
    }
  });
});

Deno.test("an upstream that answers an error: the matching error, no temp file, asked again next time", async () => {
  await withDownloads(async ({ upstream, downloads, spec, tempFiles }) => {
    const bytes = new Uint8Array(100);
    for (
      const [status, type] of [[404, UpstreamStatusError], [403, UpstreamStatusError], [
        503,
        UpstreamUnavailableError,
      ], [429, UpstreamUnavailableError]] as const
    ) {
      upstream.routes.set("/file.tgz", { status, body: "no" });
      const error = await downloads.join(spec("/file.tgz", bytes)).catch((e) => e);
      assert.ok(error instanceof type, `${status}: ${error}`);
      assert.match(error.message, new RegExp(`answered ${status}`));
    }
    assert.equal(upstream.requests.length, 4, "a failed start does not stick to the file");
    assert.deepEqual(tempFiles(), []);
  });
});

Deno.test("a client that goes away does not abort the download for the others", async () => {
  await withDownloads(async ({ upstream, blobs, downloads, spec }) => {
    const bytes = randomBytes(256 * KiB);
    const paused = gate();
    upstream.routes.set("/big.crate", {
      headers: { "content-length": String(bytes.byteLength) },
      body: () => pausedBody(bytes, 64 * KiB, paused.promise),
    });
    const active = await downloads.join(spec("/big.crate", bytes));
    const leaving = await startedClient(active);
    const staying = receive(active.follow(() => {}));
    await leaving.cancel("the client hung up");
    paused.open();
    const { bytes: body, error } = await staying;
    assert.equal(error, undefined);
    assert.deepEqual(body, bytes);
    assert.equal(active.state, "verified");
    assert.deepEqual(await blobs.readBytes(sha256Hex(bytes)), bytes);
  });
});

Deno.test("a file larger than the free space is refused before anything is written", async () => {
  await withDownloads(async ({ upstream, download, tempFiles }) => {
    upstream.routes.set("/large.whl", { body: new Uint8Array(16 * KiB) });
    const failed = await download("/large.whl");
    assert.ok(failed instanceof DiskFullError, String(failed));
    assert.match(failed.message, /16384 bytes needed, 1000 free/);
    assert.deepEqual(tempFiles(), []);
  }, { freeBytes: 1000 });
});

Deno.test("a `verify` check of the whole file decides, for digests that are not of the bytes", async () => {
  await withDownloads(async ({ upstream, blobs, download, tempFiles }) => {
    const bytes = crypto.getRandomValues(new Uint8Array(16 * KiB));
    upstream.routes.set("/module.zip", { body: bytes });
    const seen: Uint8Array[] = [];
    const stored = await download("/module.zip", {
      expected: undefined,
      verify: async (path) => void seen.push(await Deno.readFile(path)),
    });
    assert.deepEqual(stored, { sha256: sha256Hex(bytes), size: bytes.byteLength });
    assert.deepEqual(seen, [bytes]);
    // Refused by the check: not stored, no temp file, the check's error is the download's.
    const other = crypto.getRandomValues(new Uint8Array(16 * KiB));
    upstream.routes.set("/contradicted.zip", { body: other });
    const refused = await download("/contradicted.zip", {
      expected: undefined,
      verify: () => Promise.reject(new Error("the checksum database contradicts it")),
    });
    assert.match(String(refused), /contradicts it/);
    assert.equal(await blobs.size(sha256Hex(other)), undefined);
    // Neither a digest nor a check: never downloaded.
    const unchecked = await download("/module.zip", { expected: undefined });
    assert.match(String(unchecked), /nothing to verify against/);
    assert.deepEqual(tempFiles(), []);
  });
});
