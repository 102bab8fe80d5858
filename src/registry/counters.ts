// What the registry counts, per ecosystem and per client address, and how counts add up: the
// vocabulary shared by where they are kept (stats.ts in KV, client_stats.ts per address) and by
// those who show them (vm pkg status, vm status).
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
