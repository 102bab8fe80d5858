// Counters per client address, so `vm status` can show each VM its own hit ratio: a VM is a
// container with its own IP on the Docker bridge, and the server sees that IP as the source of
// its requests. The address rides along each request in an AsyncLocalStorage, so the ecosystem
// code that counts hits and misses needs to know nothing about it. Kept in memory only (they are
// a live view, not history) and bounded: the least recently seen address goes first.
import { AsyncLocalStorage } from "node:async_hooks";
import { type CounterName, type EcosystemCounters, zeroCounters } from "./counters.ts";

const MAX_CLIENTS = 1024;

export type ClientCounters = EcosystemCounters & { lastSeen: string };

const currentClient = new AsyncLocalStorage<string | undefined>();

export class ClientStats {
  /** Insertion order doubles as recency: a seen address is moved to the end. */
  readonly #clients = new Map<string, ClientCounters>();

  /** Runs one request's handling with its client address attached. */
  run<T>(address: string, fn: () => T): T {
    return currentClient.run(address, fn);
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
    const address = currentClient.getStore();
    if (address === undefined) return;
    let counters = this.#clients.get(address);
    if (counters) {
      this.#clients.delete(address);
    } else {
      counters = { ...zeroCounters(), lastSeen: "" };
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
    for (const [client, counters] of this.#clients) {
      if (address === undefined || client === address) out[client] = { ...counters };
    }
    return out;
  }
}
