// Small JSON blobs (file indexes) parsed once and kept in memory by digest. Digests are content
// addresses, so an entry can never go stale; the cache is simply dropped when it grows too big.
import type { BlobStore } from "./blob_store.ts";

export class JsonBlobCache<T> {
  readonly #entries = new Map<string, T>();

  constructor(private readonly blobs: BlobStore, private readonly maxEntries = 512) {}

  async get(digest: string): Promise<T> {
    const hit = this.#entries.get(digest);
    if (hit !== undefined) return hit;
    const bytes = await this.blobs.readBytes(digest);
    if (!bytes) throw new Error(`index blob ${digest} is missing from the store`);
    const value = JSON.parse(new TextDecoder().decode(bytes)) as T;
    if (this.#entries.size >= this.maxEntries) this.#entries.clear();
    this.#entries.set(digest, value);
    return value;
  }

  async put(value: T): Promise<string> {
    const digest = await this.blobs.putBytes(new TextEncoder().encode(JSON.stringify(value)));
    this.#entries.set(digest, value);
    return digest;
  }
}
