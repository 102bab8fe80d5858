// The traffic over the last days, for the dashboard's chart: the counters summed over ecosystems,
// kept in KV once per hour (the latest figures of each hour overwrite that hour's record), for
// three days. The counters only grow (they survive restarts in KV), so what happened in an hour is
// the difference between its record and the one before. Bounded: at most one record per hour of
// the kept span; older ones are deleted when a new hour begins.
import type { Clock } from "../store/clock.ts";
import type { EcosystemCounters } from "./counters.ts";

/** `[...HISTORY, hourStartMs]` → TrafficSample. */
export const HISTORY = ["traffic_history", 1] as const;
export const HOUR_MS = 60 * 60 * 1000;
export const KEEP_MS = 3 * 24 * HOUR_MS;

export type TrafficFigures = Pick<
  EcosystemCounters,
  "requests" | "cacheHits" | "cacheMisses" | "servedBytes" | "upstreamBytes" | "directBytes"
>;

/** The counters' totals at the last moment of an hour (or the latest moment, for this hour). */
export interface TrafficSample extends TrafficFigures {
  /** The hour's start, ms since the epoch. */
  hour: number;
}

/** What happened in one hour: the growth of each counter (never negative). */
export type HourTraffic = TrafficSample;

export class TrafficHistory {
  #lastHour: number | undefined;

  constructor(private readonly kv: Deno.Kv, private readonly clock: Clock) {}

  /** Keeps the current totals as this hour's; a new hour also drops the records past the span. */
  async record(totals: TrafficFigures): Promise<void> {
    const hour = Math.floor(this.clock.now() / HOUR_MS) * HOUR_MS;
    const sample: TrafficSample = {
      hour,
      requests: totals.requests,
      cacheHits: totals.cacheHits,
      cacheMisses: totals.cacheMisses,
      servedBytes: totals.servedBytes,
      upstreamBytes: totals.upstreamBytes,
      directBytes: totals.directBytes,
    };
    await this.kv.set([...HISTORY, hour], sample);
    if (this.#lastHour !== hour) {
      this.#lastHour = hour;
      const old = this.kv.list({ start: [...HISTORY], end: [...HISTORY, hour - KEEP_MS] });
      for await (const entry of old) await this.kv.delete(entry.key);
    }
  }

  /** The kept samples, oldest first (at most one per hour of the span, and one more). */
  async samples(): Promise<TrafficSample[]> {
    const out: TrafficSample[] = [];
    const limit = KEEP_MS / HOUR_MS + 2;
    for await (const entry of this.kv.list<TrafficSample>({ prefix: [...HISTORY] }, { limit })) {
      out.push(entry.value);
    }
    return out;
  }
}

/**
 * What happened in each hour that has a sample before it: the difference of consecutive samples.
 * A counter that went down (a data dir reset) counts as 0, not as negative traffic.
 */
export function hourlyTraffic(samples: readonly TrafficSample[]): HourTraffic[] {
  const out: HourTraffic[] = [];
  for (let i = 1; i < samples.length; i++) {
    const [before, after] = [samples[i - 1], samples[i]];
    const grew = (key: keyof TrafficFigures) => Math.max(0, after[key] - before[key]);
    out.push({
      hour: after.hour,
      requests: grew("requests"),
      cacheHits: grew("cacheHits"),
      cacheMisses: grew("cacheMisses"),
      servedBytes: grew("servedBytes"),
      upstreamBytes: grew("upstreamBytes"),
      directBytes: grew("directBytes"),
    });
  }
  return out;
}
