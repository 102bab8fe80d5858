// One ecosystem's context (store, KV, renderings, counters, upstream client, downloads, metadata
// cache) built the way the server builds it, in a temp dir, for unit tests of the code that
// serves from it (package_files.ts, documents.ts). Only the upstreams the test names are
// reachable; the log is kept for assertions; time moves only when the test moves it. Requests
// whose HEAD handling or byte counting matters go through the server's dispatcher (`routed`).
import { join } from "node:path";
import { WriteAuth } from "../../src/registry/auth.ts";
import { type EcosystemContext, ecosystemContext } from "../../src/registry/context.ts";
import { dispatcher } from "../../src/registry/dispatch.ts";
import { type Logger, silentLogger } from "../../src/registry/logger.ts";
import { route, type RouteOwner, RouteTable } from "../../src/registry/route_table.ts";
import { Stats } from "../../src/registry/stats.ts";
import { BlobStore } from "../../src/store/blob_store.ts";
import { CacheLimit } from "../../src/store/cache_limit.ts";
import type { Clock } from "../../src/store/clock.ts";
import { RenderedDocuments } from "../../src/store/rendered_documents.ts";
import { DEFAULT_TIMEOUTS } from "../../src/upstream/http_client.ts";

/** Time that moves only when the test moves it, so "now" is exact in every assertion. */
export class TestClock implements Clock {
  #now = Date.UTC(2026, 0, 1);

  now(): number {
    return this.#now;
  }

  advance(ms: number): void {
    this.#now += ms;
  }
}

export const ECOSYSTEM = "test";
/** Where the fixture's public file records are (`[...FILES, name, file]`), as CacheLimit knows. */
export const FILES: Deno.KvKey = [ECOSYSTEM, "file"];

export interface EcosystemFixture {
  ctx: EcosystemContext;
  stats: Stats;
  blobs: BlobStore;
  rendered: RenderedDocuments;
  clock: TestClock;
  /** Warnings and errors logged, as `warn: …` / `error: …`. */
  logged: string[];
  /** Names of the files in the store's temp dir. */
  tempFiles(): string[];
  /** `routed(handle)` counting each request in this ecosystem's `requests`, as the server does. */
  routed(handle: (request: Request) => Promise<Response>): RoutedRequest;
}

export interface FixtureOptions {
  /** The ecosystem's upstream URLs (the only origins its client may contact). */
  upstreams: string[];
  /** The base URLs whose renderings are kept on disk. */
  storedBases?: ReadonlySet<string>;
  maxFileBytes?: number;
}

export async function withEcosystem(
  options: FixtureOptions,
  fn: (fixture: EcosystemFixture) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "vm-ecosystem-" });
  const kv = await Deno.openKv(join(dir, "kv"));
  const blobs = new BlobStore(join(dir, "blobs"), join(dir, "tmp"));
  await blobs.init();
  const logged: string[] = [];
  const log: Logger = {
    info() {},
    warn: (message) => logged.push(`warn: ${message}`),
    error: (message) => logged.push(`error: ${message}`),
    request() {},
  };
  const rendered = new RenderedDocuments(join(dir, "rendered"), blobs, {
    storedBases: options.storedBases ? () => options.storedBases! : undefined,
    onError: (message) => log.warn(message),
  });
  await rendered.init();
  const clock = new TestClock();
  const stats = await Stats.load(kv, [ECOSYSTEM]);
  const cacheLimit = new CacheLimit(kv, blobs, null, clock, {
    publicFiles: [FILES],
    privateOwners: [ECOSYSTEM],
  }, { rendered });
  const ctx = ecosystemContext(
    {
      kv,
      blobs,
      rendered,
      stats,
      log,
      clock,
      metadataTtlMs: 300_000,
      metadataMaxStaleMs: 86_400_000,
      offline: false,
      timeouts: DEFAULT_TIMEOUTS,
      limits: { maxDocumentBytes: 1024 * 1024, maxFileBytes: options.maxFileBytes ?? 1024 * 1024 },
      auth: new WriteAuth("test-token"),
      cacheLimit,
      fallbackHost: "127.0.0.1:3080",
    },
    ECOSYSTEM,
    options.upstreams,
  );
  try {
    await fn({
      ctx,
      stats,
      blobs,
      rendered,
      clock,
      logged,
      tempFiles: () => [...Deno.readDirSync(join(dir, "tmp"))].map((entry) => entry.name),
      routed: (handle) => routed(handle, () => ctx.stats.add("requests")),
    });
  } finally {
    await ctx.idle();
    await rendered.idle();
    await cacheLimit.close();
    await stats.close();
    kv.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** A request (method, URL, headers) as a client sends it, answered the way the server answers it. */
export type RoutedRequest = (
  method: string,
  url: string,
  headers?: HeadersInit,
) => Promise<Response>;

/**
 * Requests through the server's dispatcher (dispatch.ts) to one GET route whose handler is
 * `handle`, for any path: what a client gets. The dispatcher, not the module that makes the
 * response, runs HEAD as the GET route without its body and counts a body's bytes once it is
 * sent (CountedResponse), so tests of those go through here.
 */
export function routed(
  handle: (request: Request) => Promise<Response>,
  count?: () => void,
): RoutedRequest {
  const owner: RouteOwner = { ecosystem: ECOSYSTEM, count };
  const table = new RouteTable().add(owner, [
    route({
      method: "GET",
      pattern: "/:path*",
      description: "the module under test",
      handle: (request) => handle(request),
    }),
  ]);
  const dispatch = dispatcher(table, silentLogger);
  return (method, url, headers = {}) =>
    dispatch(new Request(url, { method, headers }), "127.0.0.1");
}

/** A promise the test opens when it wants an upstream to go on. */
export function gate(): { promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => open = resolve);
  return { promise, open };
}

/**
 * `bytes` in 16 KiB chunks; after the first `at` bytes (a multiple of 16 KiB) it waits for
 * `wait`, then sends the rest, or (`cut`) stops there and drops the connection.
 */
export async function* pausedBody(
  bytes: Uint8Array,
  at: number,
  wait: Promise<void>,
  cut = false,
): AsyncGenerator<Uint8Array> {
  const chunk = 16 * 1024;
  for (let offset = 0; offset < bytes.byteLength; offset += chunk) {
    if (offset === at) {
      await wait;
      if (cut) throw new Error("connection dropped mid-body");
    }
    yield bytes.subarray(offset, Math.min(offset + chunk, bytes.byteLength));
  }
}

/** Reads a body to its end or its error: the bytes it got, and the error if any. */
export async function receive(
  stream: ReadableStream<Uint8Array> | null,
): Promise<{ bytes: Uint8Array; error?: Error }> {
  const chunks: Uint8Array[] = [];
  let error: Error | undefined;
  try {
    if (stream) { for await (const chunk of stream) chunks.push(chunk.slice()); }
  } catch (caught) {
    error = caught as Error;
  }
  const bytes = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0));
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return { bytes, error };
}

/** `n` random bytes (getRandomValues fills at most 64 KiB at a time). */
export function randomBytes(n: number): Uint8Array {
  const bytes = new Uint8Array(n);
  for (let offset = 0; offset < n; offset += 65536) {
    crypto.getRandomValues(bytes.subarray(offset, Math.min(offset + 65536, n)));
  }
  return bytes;
}
