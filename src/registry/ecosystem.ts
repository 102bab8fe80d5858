// What the server needs from each ecosystem's registry: its routes, and the hooks the shared
// private-package admin routes and status use.
import type { PrivatePackages } from "../store/private_packages.ts";

export interface EcosystemRegistry {
  /** `path` is everything after the ecosystem's prefix and its slash. */
  handle(request: Request, path: string): Promise<Response>;
  /** Loads what must be in memory before the first request (private names). */
  init(): Promise<void>;
  /** Resolves when no download of this ecosystem is running (graceful shutdown). */
  idle(): Promise<void>;
  /** Packages whose metadata document is cached. */
  documentCount(): Promise<number>;
  readonly privates: PrivatePackages;
  /** The stored form of a package name as a user typed it; undefined when it is not valid. */
  canonicalName(name: string): string | undefined;
  /** KV prefix of cached public files, keyed `[...prefix, name, file]` → { sha256, size }. */
  readonly cachedFilesPrefix: Deno.KvKey;
}
