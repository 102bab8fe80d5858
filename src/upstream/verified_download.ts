// Downloads a package file from upstream into the blob store exactly once, however many clients
// ask for it at the same time, and streams it to all of them while it is being written.
//
// The download writes a temp file; every client reads that temp file as it grows ("follows" it).
// A slow client therefore never slows the download, and a client that disconnects never aborts
// it. The last byte is held back from every client until the digest has been verified: a client
// never receives a complete body that did not match, and on a mismatch the stream errors, the
// temp file is removed, and nothing enters the cache.
//
// A download reads at most the file's declared size: its Content-Length, else the size its index
// published (PyPI's `size`), else max_file_size. A body that runs past it is cut off there and its
// temp file removed, so a hostile upstream cannot fill the disk with a file that will never verify.
import { type BlobStore, DiskFullError } from "../store/blob_store.ts";
import { type ExpectedDigest, StreamingDigests } from "../store/hashing.ts";
import { IntegrityError, UpstreamStatusError, UpstreamUnavailableError } from "./errors.ts";
import type { BodyLimit, UpstreamClient } from "./http_client.ts";

export interface StoredFile {
  sha256: string;
  size: number;
}

export interface DownloadSpec {
  /** Identity of the file for coalescing, e.g. `npm:lodash/-/lodash-4.17.21.tgz`. */
  key: string;
  url: string;
  /** What the bytes must hash to. Without it, `verify` is the only check (one of them is given). */
  expected?: ExpectedDigest;
  /**
   * A check of the complete file at `path` before it is stored, for digests that are not of the
   * bytes themselves (Go's `h1:` hashes the files inside a zip). Throws to refuse the file.
   */
  verify?(path: string): Promise<void>;
  /** The file's size as its index published it (PyPI's `size`): no more is ever read. */
  size?: number;
  /** Records the verified file (KV), called before any client gets the last byte. */
  onStored(file: StoredFile): Promise<void>;
  /** Called once when the download fails after it started (clients' bodies are cut off). */
  onFailed?(error: Error): void;
}

const READ_CHUNK = 64 * 1024;

export class ActiveDownload {
  readonly file: Deno.FsFile;
  written = 0;
  state: "running" | "verified" | "failed" = "running";
  error: Error | undefined;
  result: StoredFile | undefined;
  /** Where the verified file lives once it left the temp dir. */
  finalPath: string | undefined;
  #listeners = new Set<() => void>();
  readonly finished: Promise<void>;
  #finish!: () => void;

  constructor(readonly tempPath: string, readonly expectedSize: number | undefined) {
    this.file = Deno.openSync(tempPath, { write: true, createNew: true });
    this.finished = new Promise((resolve) => this.#finish = resolve);
  }

  notify(): void {
    for (const listener of this.#listeners) listener();
    this.#listeners.clear();
  }

  settle(state: "verified" | "failed", error?: Error): void {
    this.state = state;
    this.error = error;
    this.notify();
    this.#finish();
  }

  #changed(): Promise<void> {
    return new Promise((resolve) => this.#listeners.add(resolve));
  }

  async #openForReading(): Promise<Deno.FsFile | undefined> {
    try {
      return await Deno.open(this.tempPath, { read: true });
    } catch {
      // Renamed into the blob store already (an open descriptor would have survived the rename).
      return this.finalPath ? await Deno.open(this.finalPath, { read: true }) : undefined;
    }
  }

  /** A stream of the file for one client, following the temp file as the download writes it. */
  follow(onChunk: (bytes: number) => void): ReadableStream<Uint8Array> {
    let reader: Deno.FsFile | undefined;
    let position = 0;
    const close = () => {
      reader?.close();
      reader = undefined;
    };
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        reader ??= await this.#openForReading();
        while (true) {
          if (this.state === "failed") {
            close();
            controller.error(this.error);
            return;
          }
          // Hold the last byte back until the whole file is verified.
          const readable = this.state === "verified" ? this.written : this.written - 1;
          if (position < readable) {
            if (!reader) throw new Error("download temp file vanished");
            const buffer = new Uint8Array(Math.min(READ_CHUNK, readable - position));
            await reader.seek(position, Deno.SeekMode.Start);
            const n = await reader.read(buffer);
            if (n === null || n === 0) throw new Error("download temp file shrank");
            position += n;
            onChunk(n);
            controller.enqueue(n === buffer.length ? buffer : buffer.subarray(0, n));
            return;
          }
          if (this.state === "verified") {
            close();
            controller.close();
            return;
          }
          await this.#changed();
        }
      },
      cancel: close,
    });
  }
}

export class VerifiedDownloads {
  readonly #active = new Map<string, Promise<ActiveDownload>>();
  readonly #running = new Set<Promise<void>>();

  constructor(private readonly blobs: BlobStore, private readonly upstream: UpstreamClient) {}

  /**
   * Joins or starts the download of one file. Resolves once the upstream has answered 200, so the
   * caller can still answer 404 or 502 cleanly; rejects with an Upstream*Error otherwise.
   */
  join(spec: DownloadSpec): Promise<ActiveDownload> {
    const existing = this.#active.get(spec.key);
    if (existing) return existing;
    const started = this.#start(spec);
    this.#active.set(spec.key, started);
    started.then(
      (download) => download.finished.finally(() => this.#active.delete(spec.key)),
      () => this.#active.delete(spec.key),
    );
    return started;
  }

  /** Resolves when every running download has finished (used by a graceful shutdown). */
  async idle(): Promise<void> {
    while (this.#running.size > 0) await Promise.allSettled([...this.#running]);
  }

  async #start(spec: DownloadSpec): Promise<ActiveDownload> {
    // Never an unverified file in the store: a spec without a check is a programming error.
    if (!spec.expected && !spec.verify) throw new Error(`${spec.key}: nothing to verify against`);
    // The bytes as stored (never decompressed on the way: the digest is of those), bounded by
    // the Content-Length the upstream client enforces, and by this limit.
    const response = await this.upstream.request(spec.url, {}, {
      decompress: false,
      limit: this.#limit(spec),
    });
    if (response.status !== 200) {
      await response.body.cancel();
      if (response.status >= 500 || response.status === 429) {
        throw new UpstreamUnavailableError(spec.url, `answered ${response.status}`);
      }
      throw new UpstreamStatusError(spec.url, response.status);
    }
    const announced = response.headers.get("content-length");
    const length = announced !== null && /^\d+$/.test(announced) ? Number(announced) : undefined;
    if (length !== undefined && spec.size !== undefined && length !== spec.size) {
      await response.body.cancel();
      throw this.upstream.refuse(
        spec.url,
        `announces ${length} bytes where the index published ${spec.size}; not read`,
      );
    }
    const size = length ?? spec.size;
    // Before the first byte a client can still be told why (507); a file whose size is not
    // announced, or a disk that fills meanwhile, fails mid-stream instead.
    const free = size !== undefined ? await this.blobs.freeBytes() : undefined;
    if (free !== undefined && size !== undefined && free < size) {
      await response.body.cancel();
      throw new DiskFullError(`no space left on device: ${size} bytes needed, ${free} free`);
    }
    let download: ActiveDownload;
    try {
      download = new ActiveDownload(this.blobs.tempPath(spec.key), size);
    } catch (error) {
      await response.body.cancel();
      throw error;
    }
    const running = this.#transfer(spec, response.body, download);
    this.#running.add(running);
    running.finally(() => this.#running.delete(running));
    return download;
  }

  /** At most what the index published, and never more than max_file_size. */
  #limit(spec: DownloadSpec): BodyLimit {
    const max = this.upstream.limits.maxFileBytes;
    return spec.size !== undefined && spec.size <= max
      ? { bytes: spec.size, name: "the size its index published" }
      : { bytes: max, name: "max_file_size" };
  }

  async #transfer(
    spec: DownloadSpec,
    body: ReadableStream<Uint8Array>,
    download: ActiveDownload,
  ): Promise<void> {
    const digests = new StreamingDigests(["sha256", spec.expected?.algorithm ?? "sha256"]);
    let committed = false;
    try {
      for await (const chunk of body) {
        digests.update(chunk);
        let offset = 0;
        while (offset < chunk.byteLength) {
          offset += await download.file.write(chunk.subarray(offset));
        }
        download.written += chunk.byteLength;
        download.notify();
      }
      await download.file.sync();
      download.file.close();
      if (download.expectedSize !== undefined && download.written !== download.expectedSize) {
        throw new UpstreamUnavailableError(
          spec.url,
          `truncated body: ${download.written} of ${download.expectedSize} bytes`,
        );
      }
      const actual = digests.digestHex();
      if (spec.expected && actual[spec.expected.algorithm] !== spec.expected.hex) {
        throw new IntegrityError(
          spec.key,
          `${spec.expected.algorithm}:${spec.expected.hex}`,
          `${spec.expected.algorithm}:${actual[spec.expected.algorithm]}`,
        );
      }
      await spec.verify?.(download.tempPath);
      const stored = { sha256: actual.sha256, size: download.written };
      download.finalPath = this.blobs.pathOf(stored.sha256);
      await this.blobs.commit(download.tempPath, stored.sha256);
      committed = true;
      await spec.onStored(stored);
      download.result = stored;
      download.settle("verified");
    } catch (error) {
      try {
        download.file.close();
      } catch { /* already closed */ }
      if (!committed) await this.blobs.discard(download.tempPath);
      await body.cancel().catch(() => {});
      const failure = error instanceof Error
        ? error
        : new UpstreamUnavailableError(spec.url, String(error));
      download.settle("failed", failure);
      spec.onFailed?.(failure);
    }
  }
}
