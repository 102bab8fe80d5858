// What the Packages pages read: cached public packages and private ones of every ecosystem, one
// list to search and page through, and the detail of one package. Read from the same KV records
// and private-package store as `/-/packages` (private_admin.ts), never from a second index.
import {
  type AdminEcosystem,
  cachedPackages,
  type PrivatePackageSummary,
  summarize,
} from "../private_admin.ts";

export type PackageKind = "cached" | "private";

export interface StoredFileSummary {
  /** The file's name as the ecosystem keys it (a tarball, a wheel, a crate version). */
  file: string;
  size: number;
  /** When it was stored (ms since the epoch), when the record says. */
  storedAt?: number;
}

export interface CatalogEntry {
  type: string;
  name: string;
  kind: PackageKind;
  /** Cached files, or private versions. */
  count: number;
  bytes: number;
}

export interface CatalogQuery {
  /** Part of the name, any case; empty: every package. */
  q: string;
  type?: string;
  kind?: PackageKind;
  /** 1-based. */
  page: number;
}

export const PAGE_SIZE = 50;
/** The longest search text taken: a name is never longer, and a longer one is someone's noise. */
export const MAX_QUERY = 200;

export interface CatalogPage {
  entries: CatalogEntry[];
  total: number;
  page: number;
  pages: number;
}

/** Every package, cached and private, of every ecosystem. */
export async function catalogEntries(
  kv: Deno.Kv,
  ecosystems: readonly AdminEcosystem[],
): Promise<CatalogEntry[]> {
  const lists = await Promise.all(ecosystems.map(async ({ ecosystem, service }) => {
    const entries: CatalogEntry[] = [];
    for (const cached of await cachedPackages(kv, ecosystem)) {
      entries.push({ ...cached, kind: "cached", count: cached.files });
    }
    for (const state of await service.privates?.list() ?? []) {
      const summary = summarize(ecosystem.id, state);
      entries.push({
        type: ecosystem.id,
        name: summary.name,
        kind: "private",
        count: summary.versions.length,
        bytes: privateBytes(summary),
      });
    }
    return entries;
  }));
  return lists.flat();
}

/**
 * The catalog as read a moment ago: reading 10,000 file records from KV takes about 100 ms, so
 * paging and searching reuse one reading for a few seconds (a new package shows up after at most
 * `maxAgeMs`), and requests that arrive together share one reading.
 */
export class CatalogSnapshot {
  #taken = -Infinity;
  #entries: Promise<CatalogEntry[]> | undefined;

  constructor(
    private readonly load: () => Promise<CatalogEntry[]>,
    private readonly maxAgeMs = 5000,
    private readonly now: () => number = Date.now,
  ) {}

  /** After a write from the dashboard: the next page reads afresh and shows it. */
  invalidate(): void {
    this.#entries = undefined;
  }

  entries(): Promise<CatalogEntry[]> {
    if (this.#entries && this.now() - this.#taken <= this.maxAgeMs) return this.#entries;
    this.#taken = this.now();
    const loading = this.load();
    // A failed reading is not kept: the next request tries again.
    loading.catch(() => {
      if (this.#entries === loading) this.#entries = undefined;
    });
    return this.#entries = loading;
  }
}

/** The entries matching the query, sorted by name, cut to one page. */
export function pageOf(entries: readonly CatalogEntry[], query: CatalogQuery): CatalogPage {
  const needle = query.q.trim().toLowerCase();
  const matching = entries.filter((entry) =>
    (!query.type || entry.type === query.type) && (!query.kind || entry.kind === query.kind) &&
    (!needle || entry.name.toLowerCase().includes(needle))
  );
  // Exact and prefix matches first, so searching "react" does not bury react under react-*.
  const rank = (name: string) =>
    !needle ? 0 : name.toLowerCase() === needle ? 0 : name.toLowerCase().startsWith(needle) ? 1 : 2;
  matching.sort((a, b) =>
    rank(a.name) - rank(b.name) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0) ||
    (a.type < b.type ? -1 : a.type > b.type ? 1 : 0)
  );
  const pages = Math.max(1, Math.ceil(matching.length / PAGE_SIZE));
  const page = Math.min(Math.max(1, Math.floor(query.page) || 1), pages);
  return {
    entries: matching.slice((page - 1) * PAGE_SIZE, page * PAGE_SIZE),
    total: matching.length,
    page,
    pages,
  };
}

export function privateBytes(summary: PrivatePackageSummary): number {
  return summary.versions.reduce(
    (sum, version) => sum + version.files.reduce((s, file) => s + file.size, 0),
    0,
  );
}

/** The cached files of one public package, with their sizes and when they were stored. */
export async function cachedFilesOf(
  kv: Deno.Kv,
  admin: AdminEcosystem,
  name: string,
): Promise<StoredFileSummary[]> {
  const prefix = [...admin.ecosystem.cachedFiles, name];
  const files: StoredFileSummary[] = [];
  for await (const entry of kv.list<{ size?: number; storedAt?: number }>({ prefix })) {
    files.push({
      file: String(entry.key[prefix.length]),
      size: entry.value.size ?? 0,
      storedAt: typeof entry.value.storedAt === "number" ? entry.value.storedAt : undefined,
    });
    if (files.length >= 5000) break; // a page, not an export: bounded like everything else
  }
  return files;
}

/** The longest description shown: a page, not the package's readme. */
const MAX_DESCRIPTION = 2000;

/**
 * One private package with the description its newest version carries (npm `description`, PyPI
 * `summary`), or undefined when the name is not private in that ecosystem.
 */
export async function privatePackage(
  admin: AdminEcosystem,
  name: string,
): Promise<{ summary: PrivatePackageSummary; description?: string } | undefined> {
  const privates = admin.service.privates;
  const state = await privates?.state(name);
  if (!privates || !state) return undefined;
  const newest = state.pkg.versions.map((v) => state.versions.get(v)).filter((v) => v).at(-1);
  let description: string | undefined;
  if (newest) {
    const meta = await privates.meta<Record<string, unknown>>(newest).catch(() => undefined);
    const text = meta?.description ?? meta?.summary;
    if (typeof text === "string" && text) description = text.slice(0, MAX_DESCRIPTION);
  }
  return { summary: summarize(admin.ecosystem.id, state), description };
}
