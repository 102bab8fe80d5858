// MetadataCache on its own: freshness within the TTL, stale-while-revalidate past it (answered at
// once, one background refresh however many ask, the refreshed copy only once usable), a
// synchronous refresh past the stale limit, and offline mode. The upstream is a few lines of
// Deno.serve on loopback, because these tests must hold back, change and break its answers;
// time is a clock the test moves.
import assert from "node:assert/strict";
import { join } from "node:path";
import { AdjustableClock } from "../../src/store/clock.ts";
import { Stats } from "../../src/registry/stats.ts";
import { UpstreamClient } from "../../src/upstream/http_client.ts";
import { OfflineError } from "../../src/upstream/errors.ts";
import {
  type FreshnessPolicy,
  MetadataCache,
  type MetadataOutcome,
  type MetadataRequest,
} from "../../src/upstream/metadata_cache.ts";

const TTL_MS = 300_000;
const MAX_STALE_MS = 3 * 86_400_000;

/** An upstream whose document, availability and speed the test decides. */
class TestUpstream {
  body = "version 1";
  requests = 0;
  /** While set, answers wait for it: the test decides when the upstream answers. */
  gate: Promise<void> | undefined;
  status = 200;
  readonly #server: Deno.HttpServer<Deno.NetAddr>;

  constructor() {
    this.#server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async () => {
      this.requests++;
      await this.gate;
      return new Response(this.body, { status: this.status });
    });
  }

  get url(): string {
    return `http://127.0.0.1:${this.#server.addr.port}/doc`;
  }

  close(): Promise<void> {
    return this.#server.shutdown();
  }
}

interface Setup {
  cache: MetadataCache;
  /** Another cache over the same store and clock, e.g. the registry restarted offline. */
  reopen(options: { offline: boolean }): MetadataCache;
  upstream: TestUpstream;
  clock: AdjustableClock;
  stats: Stats;
  failures: string[];
  request: MetadataRequest<{ text: string }>;
}

async function withCache(fn: (setup: Setup) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "vm-metadata-" });
  const kv = await Deno.openKv(join(dir, "kv"));
  const upstream = new TestUpstream();
  const stats = await Stats.load(kv, ["test"]);
  const clock = new AdjustableClock();
  const failures: string[] = [];
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
      kv,
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
      // What an ecosystem does with a document it cannot use (an HTML error page, say).
      if (text.startsWith("<html")) return Promise.reject(new Error("not a document"));
      return Promise.resolve({ text });
    },
  };
  try {
    await fn({ cache, reopen, upstream, clock, stats, failures, request });
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
