// Per-ecosystem counters for /-/status. They live in memory on the hot path and are flushed to
// KV every second and at shutdown, so they survive a restart without a KV write per request.
import type { UpstreamCounters } from "../upstream/http_client.ts";
import { ClientStats } from "./client_stats.ts";

export interface EcosystemCounters {
  requests: number;
  cacheHits: number;
  cacheMisses: number;
  /** Every request sent upstream, background refreshes included. */
  upstreamRequests: number;
  /** The upstream requests no client waited for (stale-while-revalidate refreshes). */
  backgroundRequests: number;
  upstreamBytes: number;
  servedBytes: number;
  /**
   * What the clients would have downloaded from the upstream for the public documents and files
   * they were sent (the raw upstream size of each document, the bytes of each file): the
   * baseline the saving is measured against. Private packages do not count.
   */
  directBytes: number;
}

export type CounterName = keyof EcosystemCounters;

export function zeroCounters(): EcosystemCounters {
  return {
    requests: 0,
    cacheHits: 0,
    cacheMisses: 0,
    upstreamRequests: 0,
    backgroundRequests: 0,
    upstreamBytes: 0,
    servedBytes: 0,
    directBytes: 0,
  };
}

/**
 * The share of upstream traffic the cache spared: 1 - fetched upstream / what the clients would
 * have downloaded from the upstream themselves. null before any public traffic; 0 when the cache
 * fetched more than it served (a cold start).
 */
export function savingRatio(counters: Pick<EcosystemCounters, "upstreamBytes" | "directBytes">) {
  if (counters.directBytes <= 0) return null;
  return Math.max(0, 1 - counters.upstreamBytes / counters.directBytes);
}

/** Counters summed over ecosystems (or clients). */
export function sumCounters(all: Iterable<EcosystemCounters>): EcosystemCounters {
  const total = zeroCounters();
  for (const counters of all) {
    for (const name of Object.keys(total) as CounterName[]) total[name] += counters[name] ?? 0;
  }
  return total;
}

export class Stats {
  #counters = new Map<string, EcosystemCounters>();
  /** The same counts, per client address (see client_stats.ts). */
  readonly clients = new ClientStats();
  #dirty = false;
  #timer: ReturnType<typeof setInterval> | undefined;

  private constructor(private readonly kv: Deno.Kv) {}

  static async load(kv: Deno.Kv, ecosystems: readonly string[]): Promise<Stats> {
    const stats = new Stats(kv);
    for (const ecosystem of ecosystems) {
      const saved = await kv.get<EcosystemCounters>(["stats", ecosystem]);
      stats.#counters.set(ecosystem, { ...zeroCounters(), ...saved.value });
    }
    return stats;
  }

  /** A counter set bound to one ecosystem, which is all that ecosystem's code needs. */
  for(ecosystem: string): EcosystemStats {
    let counters = this.#counters.get(ecosystem);
    if (!counters) this.#counters.set(ecosystem, counters = zeroCounters());
    return new EcosystemStats(counters, () => this.#dirty = true, this.clients);
  }

  snapshot(ecosystem: string): EcosystemCounters {
    return { ...(this.#counters.get(ecosystem) ?? zeroCounters()) };
  }

  startAutoFlush(intervalMs = 1000): void {
    this.#timer = setInterval(() => void this.flush().catch(() => {}), intervalMs);
  }

  async flush(): Promise<void> {
    if (!this.#dirty) return;
    this.#dirty = false;
    const op = this.kv.atomic();
    for (const [ecosystem, counters] of this.#counters) op.set(["stats", ecosystem], counters);
    await op.commit();
  }

  async close(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.flush();
  }
}

export class EcosystemStats implements UpstreamCounters {
  constructor(
    private readonly counters: EcosystemCounters,
    private readonly markDirty: () => void,
    private readonly clients: ClientStats,
  ) {}

  add(name: CounterName, amount = 1): void {
    this.counters[name] += amount;
    this.markDirty();
    this.clients.add(name, amount);
  }
}
