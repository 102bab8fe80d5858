// Crates published to this registry: cargo's write API (publish, yank, unyank, search) and the
// index files and .crate downloads of private crates. A private crate is served only from what
// was published here, never fetched upstream or merged with crates.io's versions of that name:
// each name has one source (see private_policy.ts).
import { sha256Hex } from "../../store/hashing.ts";
import { type PackageState, PrivatePackages } from "../../store/private_packages.ts";
import type { EcosystemContext } from "../context.ts";
import { privateDocumentOutcome, serveDocument } from "../documents.ts";
import { jsonResponse } from "../http.ts";
import { servePrivateFile } from "../package_files.ts";
import { packageToPublish } from "../private_policy.ts";
import { ClientError, readLimitedBody } from "../request_body.ts";
import { checkCrateArchive } from "./crate_archive.ts";
import { cargoError, toCargoErrors } from "./errors.ts";
import {
  compareVersions,
  type IndexLine,
  indexLine,
  MAX_CRATE_UPLOAD_BYTES,
  parseUpload,
  withoutBuildMetadata,
} from "./publish.ts";

/** What is stored per version (the `metaDigest` blob). */
interface StoredCrate {
  /** The index line as published; only `yanked` changes when it is served. */
  line: IndexLine;
  /** From the publish metadata, for search results. */
  description: string | null;
}

const INDEX_DOCUMENT = "index";
const DEFAULT_PER_PAGE = 10;
const MAX_PER_PAGE = 100;

export class PrivateCrates {
  readonly privates: PrivatePackages;

  constructor(
    private readonly ctx: EcosystemContext,
    /** Whether crates.io has the name; throws when it cannot be asked. */
    private readonly existsUpstream: (name: string) => Promise<boolean>,
  ) {
    this.privates = new PrivatePackages(ctx.kv, ctx.blobs, "cargo", (state) => this.#render(state));
  }

  /** Whether a (lowercased) crate name is private here. */
  has(name: string): boolean {
    return this.privates.has(name);
  }

  /** `PUT /api/v1/crates/new`; the caller has checked the token. */
  async publish(request: Request): Promise<Response> {
    // Everything is checked before anything is stored: a refused upload leaves no trace.
    const { meta, crate } = parseUpload(await readLimitedBody(request, MAX_CRATE_UPLOAD_BYTES));
    await checkCrateArchive(crate, meta.name, meta.vers);
    const name = meta.name.toLowerCase();
    const line = indexLine(meta, sha256Hex(crate), (url) => this.#isOurIndex(url, request));
    await this.privates.change(name, async (current) => {
      const state = await packageToPublish(current, name, {
        type: "cargo",
        existsUpstream: () => this.existsUpstream(name),
        request,
      });
      await this.#refuseConflicts(state, meta.name, meta.vers);
      const file = await this.privates.storeFile(crateFileName(name, meta.vers), crate);
      const stored: StoredCrate = { line, description: meta.description };
      state.versions.set(meta.vers, {
        version: meta.vers,
        publishedAt: Date.now(),
        files: [file],
        metaDigest: await this.privates.storeMeta(stored),
      });
      return state;
    });
    this.ctx.log.info(`published private crate ${meta.name} ${meta.vers}`);
    return jsonResponse({ warnings: { invalid_categories: [], invalid_badges: [], other: [] } });
  }

  /** `DELETE …/{n}/{v}/yank`, `PUT …/{n}/{v}/unyank`; the caller has checked the token. */
  async setYanked(name: string, version: string, yanked: boolean): Promise<Response> {
    if (!this.privates.has(name)) {
      throw new ClientError(
        404,
        `crate ${name} is not published on this registry; only crates published here can be ` +
          "yanked here (crates.io crates are yanked on crates.io)",
      );
    }
    const record = (await this.privates.state(name))?.versions.get(version);
    if (!record) throw new ClientError(404, `crate ${name} has no version ${version}`);
    if (Boolean(record.yanked) !== yanked) {
      await this.privates.change(name, (current) => {
        const target = current?.versions.get(version);
        if (!current || !target) {
          throw new ClientError(404, `crate ${name} has no version ${version}`);
        }
        if (yanked) target.yanked = true;
        else delete target.yanked;
        return current;
      });
    }
    return jsonResponse({ ok: true });
  }

  /** `GET /api/v1/crates?q=&per_page=`: private crates whose name contains the query. */
  async search(request: Request): Promise<Response> {
    const params = new URL(request.url).searchParams;
    const query = normalize(params.get("q") ?? "");
    const perPage = Math.min(
      Math.max(Number.parseInt(params.get("per_page") ?? "", 10) || DEFAULT_PER_PAGE, 1),
      MAX_PER_PAGE,
    );
    const matches = (await this.privates.list())
      .filter((state) => state.versions.size > 0 && normalize(state.pkg.name).includes(query))
      // Exact matches first, as crates.io ranks them.
      .sort((a, b) =>
        Number(normalize(b.pkg.name) === query) - Number(normalize(a.pkg.name) === query) ||
        a.pkg.name.localeCompare(b.pkg.name)
      );
    const crates = await Promise.all(
      matches.slice(0, perPage).map(async (state) => {
        const newest = newestVersion(state);
        const stored = await this.privates.meta<StoredCrate>(state.versions.get(newest)!);
        return { name: stored.line.name, max_version: newest, description: stored.description };
      }),
    );
    return jsonResponse({ crates, meta: { total: matches.length } });
  }

  /** The sparse-index file of a private crate; 404 while it has no versions (still private). */
  async indexFile(request: Request, name: string): Promise<Response> {
    const pkg = await this.privates.get(name);
    const digest = pkg?.documents[INDEX_DOCUMENT];
    if (!pkg || !digest) return cargoError(404, `crate ${name} has no published versions here`);
    return serveDocument(this.ctx, request, {
      outcome: privateDocumentOutcome(pkg),
      digest,
      baseUrl: "",
      contentType: "text/plain; charset=utf-8",
      // A publish or yank changes it at once; cargo revalidates with the ETag anyway.
      cacheControl: "no-cache",
      vary: "Accept-Encoding",
      what: `the index file of ${name}`,
    });
  }

  /** A .crate as it was uploaded; a yanked version stays downloadable, as on crates.io. */
  async download(request: Request, name: string, version: string): Promise<Response> {
    const crate = name.toLowerCase();
    const file = await this.privates.file(crate, crateFileName(crate, version));
    if (!file) return cargoError(404, `crate ${name} has no version ${version}`);
    return toCargoErrors(await servePrivateFile(this.ctx, request, file, "application/gzip"));
  }

  /** One JSON line per version in publish order, with `yanked` as it is now. */
  async #render(state: PackageState): Promise<Record<string, string>> {
    const lines: string[] = [];
    for (const version of state.pkg.versions) {
      const record = state.versions.get(version);
      if (!record) continue;
      const { line } = await this.privates.meta<StoredCrate>(record);
      lines.push(JSON.stringify({ ...line, yanked: Boolean(record.yanked) }));
    }
    const text = lines.join("\n") + "\n";
    const digest = await this.ctx.blobs.putBytes(new TextEncoder().encode(text), {
      durable: true,
    });
    this.ctx.rendered.remember(digest, text);
    return { [INDEX_DOCUMENT]: digest };
  }

  /** A version, or the same one with other build metadata, or the name in other case. */
  async #refuseConflicts(state: PackageState, name: string, vers: string): Promise<void> {
    const plain = withoutBuildMetadata(vers);
    const existing = [...state.versions.keys()].find((v) => withoutBuildMetadata(v) === plain);
    if (existing !== undefined) {
      throw new ClientError(
        409,
        `crate version ${name}@${existing} already exists; a published version cannot be ` +
          "replaced (bump the version)",
      );
    }
    const first = state.versions.get(state.pkg.versions[0]);
    if (first) {
      const published = (await this.privates.meta<StoredCrate>(first)).line.name;
      if (published !== name) {
        throw new ClientError(
          409,
          `this crate is published as ${published}; every version must use that name`,
        );
      }
    }
  }

  #isOurIndex(url: string, request: Request): boolean {
    const ourPort = new URL(`http://${this.ctx.fallbackHost}`).port || "80";
    return isThisRegistryIndex(url, request.headers.get("host"), ourPort);
  }
}

/**
 * Whether a dependency's registry URL is this registry's index: our index path, reached by the
 * host the publisher used, or on our port (the same server by another name, e.g. localhost).
 */
export function isThisRegistryIndex(
  url: string,
  requestHost: string | null,
  ourPort: string,
): boolean {
  let parsed: URL;
  try {
    parsed = new URL(url.replace(/^sparse\+/, ""));
  } catch {
    return false;
  }
  if (parsed.pathname.replace(/\/+$/, "") !== "/cargo/index") return false;
  const port = parsed.port || (parsed.protocol === "https:" ? "443" : "80");
  return parsed.host === requestHost || (parsed.protocol === "http:" && port === ourPort);
}

export function crateFileName(lowercaseName: string, version: string): string {
  return `${lowercaseName}-${version}.crate`;
}

/** crates.io treats `-` and `_` alike in search, and ignores case. */
function normalize(name: string): string {
  return name.toLowerCase().replaceAll("_", "-");
}

/** The highest version not yanked, or the highest of all when every version is yanked. */
function newestVersion(state: PackageState): string {
  const all = [...state.versions.values()];
  const candidates = all.some((v) => !v.yanked) ? all.filter((v) => !v.yanked) : all;
  return candidates.map((v) => v.version).sort(compareVersions).at(-1)!;
}
