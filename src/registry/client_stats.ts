// Counters per client address, so `vm status` can show each VM its own hit ratio: a VM is a
// container with its own IP on the Docker bridge, and the server sees that IP as the source of
// its requests. The address rides along each request in an AsyncLocalStorage, so the ecosystem
// code that counts hits and misses needs to know nothing about it. Kept in memory only (they are
// a live view, not history) and bounded: the least recently seen address goes first.
import { AsyncLocalStorage } from "node:async_hooks";
import { type CounterName, type EcosystemCounters, zeroCounters } from "./counters.ts";

const MAX_CLIENTS = 1024;

export type ClientCounters = EcosystemCounters & {
  lastSeen: string;
  /**
   * The mean time the server took to answer this client's package requests (until the response
   * headers; a file's transfer is not in it), ms; null before the first. Absent from older servers.
   */
  meanLatencyMs?: number | null;
};

/** What is kept per address: the counters, and the sum the mean answer time is made from. */
type ClientRecord = EcosystemCounters & { lastSeen: string; timed: number; latencyTotalMs: number };

/** The request being handled: its client, and whether an ecosystem counted it. */
interface CurrentRequest {
  address: string;
  counted: boolean;
}

const currentClient = new AsyncLocalStorage<CurrentRequest | undefined>();

export class ClientStats {
  /** Insertion order doubles as recency: a seen address is moved to the end. */
  readonly #clients = new Map<string, ClientRecord>();

  /** Runs one request's handling with its client address attached. */
  run<T>(address: string, fn: () => T): T {
    return currentClient.run({ address, counted: false }, fn);
  }

  /**
   * Like `run`, and times the answer: a request an ecosystem counted (a package request, not a
   * status or dashboard page) adds its time to the client's mean answer time.
   */
  async timed<T>(address: string, fn: () => Promise<T>): Promise<T> {
    const started = performance.now();
    const current = { address, counted: false };
    const result = await currentClient.run(current, fn);
    const record = this.#clients.get(address);
    if (current.counted && record) {
      record.timed++;
      record.latencyTotalMs += performance.now() - started;
    }
    return result;
  }

  /**
   * Runs work that no client waits for (a background refresh) outside the request that started
   * it: what it costs upstream is not that client's.
   */
  detached<T>(fn: () => T): T {
    return currentClient.run(undefined, fn);
  }

  /** Counts for the client of the request being handled (nothing outside a request). */
  add(name: CounterName, amount: number): void {
    const current = currentClient.getStore();
    if (current === undefined) return;
    current.counted = true;
    const address = current.address;
    let counters = this.#clients.get(address);
    if (counters) {
      this.#clients.delete(address);
    } else {
      counters = { ...zeroCounters(), lastSeen: "", timed: 0, latencyTotalMs: 0 };
      if (this.#clients.size >= MAX_CLIENTS) {
        this.#clients.delete(this.#clients.keys().next().value!);
      }
    }
    counters[name] += amount;
    counters.lastSeen = new Date().toISOString();
    this.#clients.set(address, counters);
  }

  snapshot(address?: string): Record<string, ClientCounters> {
    const out: Record<string, ClientCounters> = {};
    for (const [client, record] of this.#clients) {
      if (address !== undefined && client !== address) continue;
      const { timed, latencyTotalMs, ...counters } = record;
      out[client] = {
        ...counters,
        meanLatencyMs: timed > 0 ? Math.round(latencyTotalMs / timed * 10) / 10 : null,
      };
    }
    return out;
  }
}
