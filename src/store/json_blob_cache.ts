// Small JSON blobs (file indexes) parsed once and kept in memory by digest. Digests are content
// addresses, so an entry can never go stale; the cache is simply dropped when it grows too big.
//
// These records are maps looked up by what a client asked for (a file name, a version, a tag):
// every object in them is made without a prototype, so `record["constructor"]`, `toString` or
// `__proto__` find nothing instead of Object.prototype's members, and a key named `__proto__` in
// the JSON is an ordinary entry.
import type { BlobStore } from "./blob_store.ts";

export class JsonBlobCache<T> {
  readonly #entries = new Map<string, T>();

  constructor(private readonly blobs: BlobStore, private readonly maxEntries = 512) {}

  /** The record; throws Deno.errors.NotFound when its blob is not in the store. */
  async get(digest: string): Promise<T> {
    const hit = this.#entries.get(digest);
    if (hit !== undefined) return hit;
    const bytes = await this.blobs.readBytes(digest);
    if (!bytes) throw new Deno.errors.NotFound(`index blob ${digest} is missing from the store`);
    const value = parseRecord<T>(new TextDecoder().decode(bytes));
    this.#remember(digest, value);
    return value;
  }

  async put(value: T): Promise<string> {
    const text = JSON.stringify(value);
    const digest = await this.blobs.putBytes(new TextEncoder().encode(text));
    // What is kept is what a later read of the blob gives: prototype-free, whatever `value` was.
    this.#remember(digest, parseRecord<T>(text));
    return digest;
  }

  #remember(digest: string, value: T): void {
    if (this.#entries.size >= this.maxEntries) this.#entries.clear();
    this.#entries.set(digest, value);
  }
}

/** JSON whose objects have no prototype (arrays and values stay as they are). */
export function parseRecord<T>(text: string): T {
  return JSON.parse(text, (_key, value) => {
    if (typeof value !== "object" || value === null || Array.isArray(value)) return value;
    // Own data properties, `__proto__` included (Object.assign would call its setter).
    return Object.defineProperties(Object.create(null), Object.getOwnPropertyDescriptors(value));
  }) as T;
}
