// The registry's sense of time. Everything that ages (metadata freshness, how stale a document may
// be served, eviction grace, orphan age) asks a Clock instead of Date.now(), so tests can make
// days pass in a running server without waiting for them.

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/**
 * The system clock plus an offset that only grows: what a server started with VM_PKG_TEST_CLOCK=1
 * uses, moved forward through `POST /-/test/clock` (token required). Never moves backwards, so
 * nothing that was stale becomes fresh again.
 */
export class AdjustableClock implements Clock {
  #offsetMs = 0;

  now(): number {
    return Date.now() + this.#offsetMs;
  }

  advance(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError("the clock only moves forward");
    this.#offsetMs += ms;
  }

  get offsetMs(): number {
    return this.#offsetMs;
  }
}
