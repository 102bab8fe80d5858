// One task at a time per key within this process: the next task for a key starts when the
// previous one settled (whether it succeeded or failed); tasks for other keys run freely.

export class KeyedLock {
  readonly #tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    const next = previous.catch(() => {}).then(task);
    this.#tails.set(key, next);
    return next.finally(() => {
      if (this.#tails.get(key) === next) this.#tails.delete(key);
    });
  }
}
