// MetadataCache on its own: freshness within the TTL, stale-while-revalidate past it (answered at
// once, one background refresh however many ask, the refreshed copy only once usable), a
// synchronous refresh past the stale limit (one upstream request for many callers), validators
// sent back and a 304 that re-downloads nothing, digest comparison when the upstream sends no
// validators, the stale copy kept when the upstream fails, and offline mode. The upstream is a
// few lines of Deno.serve on loopback, because these tests must hold back, change and break its
// answers; time is a clock only the test moves.
import assert from "node:assert/strict";
import { join } from "node:path";
import { Stats } from "../../src/registry/stats.ts";
import { UpstreamClient } from "../../src/upstream/http_client.ts";
import {
  OfflineError,
  UpstreamStatusError,
  UpstreamUnavailableError,
} from "../../src/upstream/errors.ts";
import { sha256Hex } from "../../src/store/hashing.ts";
import { TestClock } from "./ecosystem_fixture.ts";
import {
  type FreshnessPolicy,
  MetadataCache,
  type MetadataOutcome,
  type MetadataRequest,
} from "../../src/upstream/metadata_cache.ts";

const TTL_MS = 300_000;
const MAX_STALE_MS = 3 * 86_400_000;

/** An upstream whose document, validators, availability and speed the test decides. */
class TestUpstream {
  body = "version 1";
  requests = 0;
  /** While set, answers wait for it: the test decides when the upstream answers. */
  gate: Promise<void> | undefined;
  status = 200;
  /** Validators sent with the document; a request that carries the current one gets a 304. */
  etag: string | undefined;
  lastModified: string | undefined;
  /** The headers of every request, in order. */
  readonly seen: Headers[] = [];
  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  #closed: Promise<void> | undefined;

  constructor() {
    this.#server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
      this.requests++;
      this.seen.push(req.headers);
      await this.gate;
      const headers = new Headers();
      if (this.etag) headers.set("etag", this.etag);
      if (this.lastModified) headers.set("last-modified", this.lastModified);
      const ifNoneMatch = req.headers.get("if-none-match");
      const ifModifiedSince = req.headers.get("if-modified-since");
      const unchanged = ifNoneMatch !== null
        ? ifNoneMatch === this.etag
        : ifModifiedSince !== null && ifModifiedSince === this.lastModified;
      if (this.status === 200 && unchanged) return new Response(null, { status: 304, headers });
      return new Response(this.body, { status: this.status, headers });
    });
  }

  get url(): string {
    return `http://127.0.0.1:${this.#server.addr.port}/doc`;
  }

  /** Stops answering (connections refused from then on); once, whoever asks. */
  close(): Promise<void> {
    return this.#closed ??= this.#server.shutdown();
  }
}

interface Setup {
  cache: MetadataCache;
  /** Another cache over the same store and clock, e.g. the registry restarted offline. */
  reopen(options: { offline: boolean }): MetadataCache;
  upstream: TestUpstream;
  clock: TestClock;
  stats: Stats;
  failures: string[];
  request: MetadataRequest<{ text: string }>;
  /** Resolves once `n` cache lookups have read the store (and gone on from there). */
  storeReads(n: number): Promise<void>;
  /** The text of every document ingest was given (what the ecosystem processed and stored). */
  ingested: string[];
}

async function withCache(fn: (setup: Setup) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "vm-metadata-" });
  const kv = await Deno.openKv(join(dir, "kv"));
  const upstream = new TestUpstream();
  const stats = await Stats.load(kv, ["test"]);
  const clock = new TestClock();
  // The store as the cache sees it, counting reads: a test can wait until every caller it
  // started has looked at the store and gone on to the upstream.
  let reads = 0;
  const counted = {
    get: async (key: Deno.KvKey) => {
      const entry = await kv.get(key);
      reads++;
      return entry;
    },
    set: (key: Deno.KvKey, value: unknown) => kv.set(key, value),
  } as unknown as Deno.Kv;
  const storeReads = async (n: number) => {
    while (reads < n) await new Promise((resolve) => setTimeout(resolve, 1));
    await new Promise((resolve) => setTimeout(resolve, 0));
  };
  const failures: string[] = [];
  const ingested: string[] = [];
  const policy: FreshnessPolicy = {
    ttlMs: TTL_MS,
    maxStaleMs: MAX_STALE_MS,
    clock,
    detach: (task) => task(),
    onBackgroundFailure: (_url, error) => failures.push(error.message),
  };
  const opened: MetadataCache[] = [];
  const reopen = ({ offline }: { offline: boolean }) => {
    const cache = new MetadataCache(
      counted,
      new UpstreamClient(stats.for("test"), { upstreams: [upstream.url], offline }),
      policy,
    );
    opened.push(cache);
    return cache;
  };
  const cache = reopen({ offline: false });
  const request: MetadataRequest<{ text: string }> = {
    key: ["test", "doc"],
    url: upstream.url,
    ingest: (body) => {
      const text = new TextDecoder().decode(body);
      ingested.push(text);
      // What an ecosystem does with a document it cannot use (an HTML error page, say).
      if (text.startsWith("<html")) return Promise.reject(new Error("not a document"));
      return Promise.resolve({ text });
    },
  };
  try {
    await fn({ cache, reopen, upstream, clock, stats, failures, request, ingested, storeReads });
  } finally {
    for (const each of opened) await each.idle();
    await upstream.close();
    await stats.close();
    kv.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const textOf = (outcome: MetadataOutcome<{ text: string }>) =>
  outcome.kind === "not-found" ? undefined : outcome.record.text;

Deno.test("within the TTL the cache answers and the upstream is not asked", async () => {
  await withCache(async ({ cache, upstream, clock, request }) => {
    const first = await cache.get(request);
    assert.equal(first.kind === "found" && first.source, "fetched");
    clock.advance(TTL_MS - 1000);
    const second = await cache.get(request);
    assert.equal(second.kind === "found" && second.source, "cache");
    assert.equal(upstream.requests, 1);
  });
});

Deno.test("past the TTL: answered at once, one background refresh for many callers", async () => {
  await withCache(async ({ cache, upstream, clock, stats, request }) => {
    await cache.get(request);
    upstream.body = "version 2";
    clock.advance(TTL_MS + 60_000);
    // The upstream does not answer until the test lets it: the callers must not wait for it.
    let release!: () => void;
    upstream.gate = new Promise((resolve) => release = resolve);

    const answered = Promise.all(Array.from({ length: 20 }, () => cache.get(request)));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const waited = new Promise<"waited">((resolve) =>
      timer = setTimeout(resolve, 10_000, "waited")
    );
    const outcomes = await Promise.race([answered, waited]).finally(() => clearTimeout(timer));
    if (outcomes === "waited") {
      release();
      await answered;
      assert.fail("the callers waited for the upstream");
    }
    for (const outcome of outcomes) {
      assert.equal(outcome.kind === "found" && outcome.source, "refreshing");
      assert.equal(textOf(outcome), "version 1");
    }
    release();
    await cache.idle();
    assert.equal(upstream.requests, 2, "one background refresh for twenty callers");
    assert.equal(stats.snapshot("test").backgroundRequests, 1);
    const after = await cache.get(request);
    assert.equal(after.kind === "found" && after.source, "cache");
    assert.equal(textOf(after), "version 2", "the refreshed copy is served from then on");
  });
});

Deno.test("a refresh that brings an unusable document keeps the cached one", async () => {
  await withCache(async ({ cache, upstream, clock, failures, request }) => {
    await cache.get(request);
    upstream.body = "<html>502 Bad Gateway</html>";
    clock.advance(TTL_MS + 1000);
    assert.equal(textOf(await cache.get(request)), "version 1");
    await cache.idle();
    assert.match(failures.join("\n"), /unusable document/);
    upstream.status = 503;
    clock.advance(TTL_MS + 1000);
    assert.equal(textOf(await cache.get(request)), "version 1");
    await cache.idle();
    assert.match(failures.join("\n"), /answered 503/);
    assert.equal(upstream.requests, 3);
  });
});

Deno.test("past TTL + max stale the caller waits for the refresh", async () => {
  await withCache(async ({ cache, upstream, clock, request }) => {
    await cache.get(request);
    upstream.body = "version 2";
    clock.advance(TTL_MS + MAX_STALE_MS + 1000);
    const outcome = await cache.get(request);
    assert.equal(outcome.kind === "found" && outcome.source, "fetched");
    assert.equal(textOf(outcome), "version 2");
    assert.equal(upstream.requests, 2);
  });
});

Deno.test("offline: the cache answers whatever its age, a miss never reaches upstream", async () => {
  await withCache(async ({ cache, reopen, upstream, clock, request }) => {
    await cache.get(request); // cached while online
    const offline = reopen({ offline: true });
    clock.advance(TTL_MS + MAX_STALE_MS + 1000);
    const outcome = await offline.get(request);
    assert.equal(outcome.kind, "stale");
    assert.equal(textOf(outcome), "version 1");
    await assert.rejects(offline.get({ ...request, key: ["test", "other"] }), OfflineError);
    await offline.idle();
    assert.equal(upstream.requests, 1, "only the online fetch reached the upstream");
  });
});

const sourceOf = (outcome: MetadataOutcome<{ text: string }>) =>
  outcome.kind === "found" ? outcome.source : outcome.kind;

/**
 * Twenty callers at once while the upstream holds its answer; it answers once every one of them
 * has looked at the store (and so joined or started the refresh).
 */
async function twentyAtOnce(
  { upstream, storeReads }: Pick<Setup, "upstream" | "storeReads">,
  readsSoFar: number,
  ask: () => Promise<MetadataOutcome<{ text: string }>>,
): Promise<MetadataOutcome<{ text: string }>[]> {
  let release!: () => void;
  upstream.gate = new Promise((resolve) => release = resolve);
  const callers = Array.from({ length: 20 }, ask);
  await storeReads(readsSoFar + 20);
  release();
  const outcomes = await Promise.all(callers);
  upstream.gate = undefined;
  return outcomes;
}

const LAST_MODIFIED = "Wed, 01 Jan 2025 00:00:00 GMT";

Deno.test("validators go back upstream; a 304 keeps the stored document and restarts its TTL", async () => {
  for (
    const validators of [
      { etag: '"v1"', lastModified: LAST_MODIFIED },
      { etag: 'W/"v1"', lastModified: undefined },
      { etag: undefined, lastModified: LAST_MODIFIED },
    ]
  ) {
    await withCache(async ({ cache, upstream, clock, stats, request, ingested }) => {
      Object.assign(upstream, validators);
      const headers = { accept: "application/vnd.npm.install-v1+json" };
      const first = await cache.get({ ...request, headers });
      assert.equal(sourceOf(first), "fetched");
      const fetchedAt = clock.now();
      assert.equal(first.kind === "found" && first.record.etag, validators.etag);
      assert.equal(first.kind === "found" && first.record.lastModified, validators.lastModified);
      const bytesBefore = stats.snapshot("test").upstreamBytes;
      assert.equal(bytesBefore, "version 1".length);

      // Past the stale limit: the caller waits for the revalidation, which answers 304.
      clock.advance(TTL_MS + MAX_STALE_MS + 1000);
      const again = await cache.get({ ...request, headers });
      assert.equal(sourceOf(again), "revalidated");
      assert.equal(textOf(again), "version 1");
      const sent = upstream.seen[1];
      assert.equal(sent.get("if-none-match"), validators.etag ?? null);
      assert.equal(sent.get("if-modified-since"), validators.lastModified ?? null);
      assert.equal(sent.get("accept"), headers.accept, "the ecosystem's headers go along");
      assert.deepEqual(ingested, ["version 1"], "the document was not processed again");
      assert.equal(stats.snapshot("test").upstreamBytes, bytesBefore, "no body came again");
      assert.ok(again.kind === "found");
      assert.equal(again.record.fetchedAt, fetchedAt, "the document did not change");
      assert.equal(again.record.checkedAt, clock.now());

      // The TTL counts from that check: within it, no request; past it, a background 304.
      clock.advance(TTL_MS - 1000);
      assert.equal(sourceOf(await cache.get(request)), "cache");
      assert.equal(upstream.requests, 2);
      clock.advance(2000);
      assert.equal(sourceOf(await cache.get(request)), "refreshing");
      await cache.idle();
      assert.equal(upstream.requests, 3);
      assert.equal(sourceOf(await cache.get(request)), "cache");
      assert.deepEqual(ingested, ["version 1"]);
    });
  }
});

Deno.test("without validators an unchanged body is known by its digest; a changed one replaces it", async () => {
  await withCache(async ({ cache, upstream, clock, request, ingested }) => {
    const first = await cache.get(request);
    assert.ok(first.kind === "found");
    assert.equal(first.record.upstreamDigest, sha256Hex("version 1"));
    const fetchedAt = first.record.fetchedAt;

    clock.advance(TTL_MS + MAX_STALE_MS + 1000);
    const same = await cache.get(request);
    assert.equal(sourceOf(same), "revalidated");
    assert.equal(upstream.seen[1].get("if-none-match"), null);
    assert.equal(upstream.seen[1].get("if-modified-since"), null);
    assert.deepEqual(ingested, ["version 1"], "an unchanged body is not stored again");
    assert.ok(same.kind === "found");
    assert.equal(same.record.fetchedAt, fetchedAt);
    assert.equal(same.record.checkedAt, clock.now());

    upstream.body = "version 2";
    clock.advance(TTL_MS + MAX_STALE_MS + 1000);
    const changed = await cache.get(request);
    assert.equal(sourceOf(changed), "fetched");
    assert.equal(textOf(changed), "version 2");
    assert.deepEqual(ingested, ["version 1", "version 2"]);
    assert.ok(changed.kind === "found");
    assert.equal(changed.record.fetchedAt, clock.now());
    assert.equal(changed.record.upstreamDigest, sha256Hex("version 2"));
    assert.equal(changed.record.upstreamSize, "version 2".length);
    assert.equal(textOf(await cache.get(request)), "version 2", "stored for the next caller");
  });
});

Deno.test("many callers of a missing or too-stale document: one upstream request each time", async () => {
  await withCache(async (setup) => {
    const { cache, upstream, clock, request, ingested } = setup;
    const misses = await twentyAtOnce(setup, 0, () => cache.get(request));
    assert.equal(upstream.requests, 1);
    for (const outcome of misses) {
      assert.equal(sourceOf(outcome), "fetched");
      assert.equal(textOf(outcome), "version 1");
    }
    upstream.body = "version 2";
    clock.advance(TTL_MS + MAX_STALE_MS + 1000);
    const stale = await twentyAtOnce(setup, 20, () => cache.get(request));
    assert.equal(upstream.requests, 2);
    for (const outcome of stale) {
      assert.equal(sourceOf(outcome), "fetched");
      assert.equal(textOf(outcome), "version 2");
    }
    assert.deepEqual(ingested, ["version 1", "version 2"]);
  });
});

Deno.test("an upstream that fails keeps the stale copy; without one the caller gets the error", async () => {
  await withCache(async ({ cache, upstream, clock, request }) => {
    await cache.get(request);
    const checkedAt = clock.now();
    clock.advance(TTL_MS + MAX_STALE_MS + 1000);
    upstream.status = 503;
    const failed = await cache.get(request);
    assert.equal(failed.kind, "stale");
    assert.equal(textOf(failed), "version 1");
    assert.match(failed.kind === "stale" ? failed.warning : "", /answered 503/);
    assert.equal(failed.kind === "stale" && failed.record.checkedAt, checkedAt);
    await assert.rejects(cache.get({ ...request, key: ["test", "new"] }), UpstreamUnavailableError);

    // Unreachable (connection refused): the same.
    await upstream.close();
    const unreachable = await cache.get(request);
    assert.equal(unreachable.kind, "stale");
    assert.equal(textOf(unreachable), "version 1");
    assert.match(unreachable.kind === "stale" ? unreachable.warning : "", /unavailable/);
    await assert.rejects(cache.get({ ...request, key: ["test", "new"] }), UpstreamUnavailableError);
  });
});

Deno.test("a background refresh that failed leaves the next caller free to try again", async () => {
  await withCache(async ({ cache, upstream, clock, failures, request }) => {
    await cache.get(request);
    clock.advance(TTL_MS + 1000);
    upstream.status = 500;
    assert.equal(sourceOf(await cache.get(request)), "refreshing");
    await cache.idle();
    assert.equal(failures.length, 1);
    assert.match(failures[0], /answered 500/);
    upstream.status = 200;
    upstream.body = "version 2";
    assert.equal(textOf(await cache.get(request)), "version 1", "still stale, still at once");
    await cache.idle();
    assert.equal(upstream.requests, 3);
    const after = await cache.get(request);
    assert.equal(sourceOf(after), "cache");
    assert.equal(textOf(after), "version 2");
  });
});

Deno.test("404 and 410 are not found; another status is an error, and nothing is stored", async () => {
  await withCache(async ({ cache, upstream, request, ingested }) => {
    for (const status of [404, 410]) {
      upstream.status = status;
      assert.deepEqual(await cache.get(request), { kind: "not-found" });
    }
    upstream.status = 403;
    const error = await cache.get(request).catch((e) => e);
    assert.ok(error instanceof UpstreamStatusError, String(error));
    assert.equal(error.status, 403);
    assert.deepEqual(ingested, []);
    upstream.status = 200;
    assert.equal(sourceOf(await cache.get(request)), "fetched", "nothing cached the failures");
  });
});
