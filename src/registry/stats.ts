// Per-ecosystem counters for /-/status. They live in memory on the hot path and are flushed to
// KV every second and at shutdown, so they survive a restart without a KV write per request.
import type { UpstreamCounters } from "../upstream/http_client.ts";
import { ClientStats } from "./client_stats.ts";
import { type CounterName, type EcosystemCounters, zeroCounters } from "./counters.ts";

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
