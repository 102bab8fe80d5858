// Packages published to this registry (npm, PyPI, cargo), kept beside the cache but never mixed
// with it. Each name has one source: once a name has a record here, the ecosystem serves only
// what was published here, whatever upstream has under that name. A record with no versions
// left keeps the name private (removing the last version does not silently re-open it).
//
// KV layout (values stay far below Deno KV's 64 KiB limit; big things are blobs):
//   [ecosystem, "private", name]               → PrivatePackage
//   [ecosystem, "private-version", name, ver]  → PrivateVersion
//   [ecosystem, "private-file", name, file]    → PrivateFileRecord
// Every change reads the whole package, applies one mutation, re-renders the documents the
// ecosystem serves for it, and commits all keys in one atomic KV operation guarded by the
// package's versionstamp: concurrent publishes never lose a version, and a crash leaves either
// the old package or the new one.
//
// An ecosystem whose names have several spellings (cargo: `My_Crate` is `my-crate`) gives a
// `sameName` key function: every method then takes any spelling and finds the package stored
// under the spelling it was created with, and changes are serialized per key, so two spellings
// can never become two packages. Records stay where they were written (no migration); two
// records of one key left by an older version each stay reachable by their own spelling.
import { KeyedLock } from "./keyed_lock.ts";
import type { BlobStore } from "./blob_store.ts";

export interface PrivateFile {
  filename: string;
  sha256: string;
  size: number;
}

export interface PrivateFileRecord extends PrivateFile {
  version: string;
}

export interface PrivateVersion {
  version: string;
  publishedAt: number;
  files: PrivateFile[];
  /** The ecosystem's own metadata of this version (npm manifest, cargo index line…), a JSON blob. */
  metaDigest: string;
  /** A yanked version (PyPI, cargo): true or the reason. */
  yanked?: string | true;
  /** npm's deprecation message. */
  deprecated?: string;
}

export interface PrivatePackage {
  name: string;
  createdAt: number;
  modifiedAt: number;
  /** Bumped on every change; npm's `_rev` is built from it. */
  rev: number;
  distTags: Record<string, string>;
  /** In publish order. */
  versions: string[];
  /** The documents the ecosystem serves for this package, rendered at each change: kind → blob. */
  documents: Record<string, string>;
  /** Published here although upstream has the name (the publisher asked for it). */
  shadowsUpstream: boolean;
}

export interface PackageState {
  pkg: PrivatePackage;
  versions: Map<string, PrivateVersion>;
}

/** Renders what the ecosystem serves for a package; returns kind → blob digest. */
export type DocumentRenderer = (state: PackageState) => Promise<Record<string, string>>;

/** Returns the new state, or undefined to forget the name entirely (re-open it to upstream). */
export type Mutation = (
  current: PackageState | undefined,
) => PackageState | undefined | Promise<PackageState | undefined>;

/**
 * A change that lost the race (another instance on the same KV committed first) reads and tries
 * again. Within one instance changes to a name take turns (`change`), so only other instances
 * race: with two of them publishing back to back, five tries were not always enough (one lost 5
 * times in a row in about 1 run of 8). A short random wait between tries breaks the lockstep.
 */
const MAX_ATTEMPTS = 30;
const retryDelayMs = (attempt: number) => Math.random() * Math.min(50, 2 ** attempt);

export class PrivatePackages {
  /** Stored names with a record, so the common case (a public name) costs no KV read. */
  readonly #names = new Set<string>();
  /** `sameName` key → the stored name that spelling finds. */
  readonly #byKey = new Map<string, string>();
  /** One change at a time per name key in this process; the versionstamp guards the rest. */
  readonly #locks = new KeyedLock();

  constructor(
    private readonly kv: Deno.Kv,
    private readonly blobs: BlobStore,
    readonly ecosystem: string,
    private readonly render: DocumentRenderer,
    /** The key that makes two spellings one name; names are compared as given without it. */
    private readonly sameName: (name: string) => string = (name) => name,
  ) {}

  async init(): Promise<void> {
    for await (const entry of this.kv.list<PrivatePackage>({ prefix: this.#key() })) {
      this.#remember(entry.value.name);
    }
  }

  /**
   * The name a package is stored under, for any spelling of it: the spelling itself when it has a
   * record, else the record of its key. Undefined when the name is not private.
   */
  storedName(name: string): string | undefined {
    return this.#names.has(name) ? name : this.#byKey.get(this.sameName(name));
  }

  /** Whether the name, in any spelling, is private here (then upstream is never consulted). */
  has(name: string): boolean {
    return this.storedName(name) !== undefined;
  }

  /** How many names are private (with or without versions). */
  count(): number {
    return this.#names.size;
  }

  async get(name: string): Promise<PrivatePackage | undefined> {
    const stored = this.storedName(name);
    if (stored === undefined) return undefined;
    return (await this.kv.get<PrivatePackage>(this.#key(stored))).value ?? undefined;
  }

  async state(name: string): Promise<PackageState | undefined> {
    const stored = this.storedName(name);
    if (stored === undefined) return undefined;
    return (await this.#read(stored)).state;
  }

  async file(name: string, filename: string): Promise<PrivateFileRecord | undefined> {
    const stored = this.storedName(name);
    if (stored === undefined) return undefined;
    const key = [this.ecosystem, "private-file", stored, filename];
    return (await this.kv.get<PrivateFileRecord>(key)).value ?? undefined;
  }

  async list(): Promise<PackageState[]> {
    const names = [...this.#names].sort();
    const states = await Promise.all(names.map((name) => this.state(name)));
    return states.filter((state): state is PackageState => state !== undefined);
  }

  /** The ecosystem metadata of a version, as it was stored at publish. */
  async meta<T>(version: PrivateVersion): Promise<T> {
    const bytes = await this.blobs.readBytes(version.metaDigest);
    if (!bytes) throw new Error(`metadata blob ${version.metaDigest} is missing`);
    return JSON.parse(new TextDecoder().decode(bytes)) as T;
  }

  /** Stores a version's metadata durably; returns the digest for `metaDigest`. */
  storeMeta(meta: unknown): Promise<string> {
    return this.blobs.putBytes(new TextEncoder().encode(JSON.stringify(meta)), { durable: true });
  }

  /** Stores an uploaded file durably (it exists nowhere else). */
  async storeFile(filename: string, bytes: Uint8Array): Promise<PrivateFile> {
    const sha256 = await this.blobs.putBytes(bytes, { durable: true });
    return { filename, sha256, size: bytes.byteLength };
  }

  /** A new, empty package record (the caller adds versions). */
  static emptyPackage(name: string, shadowsUpstream: boolean): PackageState {
    const now = Date.now();
    return {
      pkg: {
        name,
        createdAt: now,
        modifiedAt: now,
        rev: 0,
        distTags: {},
        versions: [],
        documents: {},
        shadowsUpstream,
      },
      versions: new Map(),
    };
  }

  /**
   * Applies one mutation atomically; returns the committed state (undefined when forgotten). Any
   * spelling changes the package its key already has; a new package is stored as spelled here.
   */
  change(name: string, mutate: Mutation): Promise<PackageState | undefined> {
    // The stored name is looked up under the lock: a change just before may have created it.
    return this.#locks.run(
      this.sameName(name),
      () => this.#changeNow(this.storedName(name) ?? name, mutate),
    );
  }

  async #changeNow(name: string, mutate: Mutation): Promise<PackageState | undefined> {
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const { state: current, versionstamp } = await this.#read(name, true);
      const copy = current ? structuredClone(current) : undefined;
      const next = await mutate(copy);
      const atomic = this.kv.atomic().check({ key: this.#key(name), versionstamp });
      const oldVersions = current?.versions ?? new Map<string, PrivateVersion>();
      const oldFiles = fileKeys(oldVersions);
      if (next) {
        next.pkg.name = name;
        next.pkg.rev = (current?.pkg.rev ?? 0) + 1;
        next.pkg.modifiedAt = Date.now();
        next.pkg.versions = next.pkg.versions.filter((v) => next.versions.has(v));
        for (const version of next.versions.keys()) {
          if (!next.pkg.versions.includes(version)) next.pkg.versions.push(version);
        }
        next.pkg.documents = next.versions.size > 0 ? await this.render(next) : {};
        atomic.set(this.#key(name), next.pkg);
        for (const [version, record] of next.versions) {
          if (JSON.stringify(oldVersions.get(version)) !== JSON.stringify(record)) {
            atomic.set([this.ecosystem, "private-version", name, version], record);
          }
        }
        const newFiles = fileKeys(next.versions);
        for (const [filename, record] of newFiles) {
          if (!oldFiles.has(filename)) {
            atomic.set([this.ecosystem, "private-file", name, filename], record);
          }
        }
        for (const filename of oldFiles.keys()) {
          if (!newFiles.has(filename)) {
            atomic.delete([this.ecosystem, "private-file", name, filename]);
          }
        }
      } else {
        atomic.delete(this.#key(name));
      }
      for (const version of oldVersions.keys()) {
        if (!next?.versions.has(version)) {
          atomic.delete([this.ecosystem, "private-version", name, version]);
        }
      }
      if (!next) {
        for (const filename of oldFiles.keys()) {
          atomic.delete([this.ecosystem, "private-file", name, filename]);
        }
      }
      const result = await atomic.commit();
      if (result.ok) {
        if (next) this.#remember(name);
        else this.#forget(name);
        return next;
      }
      await new Promise((resolve) => setTimeout(resolve, retryDelayMs(attempt)));
    }
    throw new Error(`${name} changed ${MAX_ATTEMPTS} times while being updated; try again`);
  }

  async #read(
    name: string,
    always = false,
  ): Promise<{ state?: PackageState; versionstamp: string | null }> {
    if (!always && !this.#names.has(name)) return { versionstamp: null };
    const entry = await this.kv.get<PrivatePackage>(this.#key(name));
    if (!entry.value) return { versionstamp: null };
    const versions = new Map<string, PrivateVersion>();
    const prefix = [this.ecosystem, "private-version", name];
    for await (const version of this.kv.list<PrivateVersion>({ prefix })) {
      versions.set(version.value.version, version.value);
    }
    return { state: { pkg: entry.value, versions }, versionstamp: entry.versionstamp };
  }

  #remember(name: string): void {
    this.#names.add(name);
    const key = this.sameName(name);
    if (!this.#byKey.has(key)) this.#byKey.set(key, name);
  }

  #forget(name: string): void {
    this.#names.delete(name);
    const key = this.sameName(name);
    if (this.#byKey.get(key) !== name) return;
    this.#byKey.delete(key);
    // Another record of the same key (from before keys were compared) takes its place.
    const other = [...this.#names].find((stored) => this.sameName(stored) === key);
    if (other !== undefined) this.#byKey.set(key, other);
  }

  #key(name?: string): Deno.KvKey {
    return name === undefined ? [this.ecosystem, "private"] : [this.ecosystem, "private", name];
  }
}

function fileKeys(versions: Map<string, PrivateVersion>): Map<string, PrivateFileRecord> {
  const files = new Map<string, PrivateFileRecord>();
  for (const [version, record] of versions) {
    for (const file of record.files) files.set(file.filename, { ...file, version });
  }
  return files;
}
