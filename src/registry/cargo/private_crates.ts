// Crates published to this registry: cargo's write API (publish, yank, unyank, search) and the
// index files and .crate downloads of private crates. A private crate is served only from what
// was published here, never fetched upstream or merged with crates.io's versions of that name:
// each name has one source (see private_policy.ts).
//
// A name is every spelling of its key (`crateKey`: case and `-`/`_` ignored), as on crates.io:
// a private crate hides every spelling from upstream, a new name is refused while crates.io has
// any spelling of it, and a publish under another spelling of a private crate is refused as
// crates.io refuses it ("crate was previously named …"). A claim reserves every spelling; the
// first published version fixes the exact one.
import { sha256Hex } from "../../store/hashing.ts";
import { type PackageState, PrivatePackages } from "../../store/private_packages.ts";
import type { EcosystemContext } from "../context.ts";
import { privateDocumentOutcome, serveDocument } from "../documents.ts";
import { errorResponse, jsonResponse } from "../http.ts";
import { servePrivateFile } from "../package_files.ts";
import { packageToPublish } from "../private_policy.ts";
import { ClientError, readLimitedBody } from "../request_body.ts";
import { checkCrateArchive } from "./crate_archive.ts";
import { crateKey, indexSpellings } from "./names.ts";
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
/** Spellings asked upstream before a new name is made private (6 separators); more: 503. */
const MAX_UPSTREAM_SPELLINGS = 64;

export class PrivateCrates {
  readonly privates: PrivatePackages;

  constructor(
    private readonly ctx: EcosystemContext,
    /** Whether crates.io's index has this exact (lowercased) spelling; throws when it cannot tell. */
    private readonly existsUpstream: (name: string) => Promise<boolean>,
  ) {
    this.privates = new PrivatePackages(
      ctx.kv,
      ctx.blobs,
      "cargo",
      (state) => this.#render(state),
      crateKey,
    );
  }

  /** Whether a crate name, in any spelling, is private here. */
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
        existsUpstream: () => this.#upstreamSpelling(name),
        request,
      });
      await this.#refuseConflicts(state, meta.name, meta.vers);
      // Under the name the package is stored as, which a download in any spelling finds.
      const file = await this.privates.storeFile(crateFileName(state.pkg.name, meta.vers), crate);
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
    const query = crateKey(params.get("q") ?? "");
    const perPage = Math.min(
      Math.max(Number.parseInt(params.get("per_page") ?? "", 10) || DEFAULT_PER_PAGE, 1),
      MAX_PER_PAGE,
    );
    const matches = (await this.privates.list())
      .filter((state) => state.versions.size > 0 && crateKey(state.pkg.name).includes(query))
      // Exact matches first, as crates.io ranks them.
      .sort((a, b) =>
        Number(crateKey(b.pkg.name) === query) - Number(crateKey(a.pkg.name) === query) ||
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

  /**
   * The sparse-index file of a private crate, at the index path of any spelling (its lines carry
   * the published name, which is what cargo matches); 404 while it has no versions (still
   * private).
   */
  async indexFile(request: Request, name: string): Promise<Response> {
    const pkg = await this.privates.get(name);
    const digest = pkg?.documents[INDEX_DOCUMENT];
    if (!pkg || !digest) return errorResponse(404, `crate ${name} has no published versions here`);
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
    const stored = this.privates.storedName(name);
    const file = stored === undefined
      ? undefined
      : await this.privates.file(stored, crateFileName(stored, version));
    if (!file) return errorResponse(404, `crate ${name} has no version ${version}`);
    return await servePrivateFile(this.ctx, request, file, "application/gzip");
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

  /**
   * Whether crates.io has any spelling of the name: the spelling it has (true when it is this
   * one), or false. Throws (so the publish is refused with a hint to claim the name) when a
   * spelling cannot be asked or there are too many to ask.
   */
  async #upstreamSpelling(name: string): Promise<string | boolean> {
    const spellings = indexSpellings(name, MAX_UPSTREAM_SPELLINGS);
    if (!spellings) {
      throw new Error(`${name} has too many - and _ to check every spelling on crates.io`);
    }
    const found = await Promise.all(spellings.map((spelling) => this.existsUpstream(spelling)));
    const upstream = spellings.find((_, i) => found[i]);
    return upstream === undefined ? false : upstream === name.toLowerCase() || upstream;
  }

  /**
   * A version, or the same one with other build metadata, or the name in another spelling: as on
   * crates.io, every version of a crate has the name its first one was published with.
   */
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
          `crate was previously named \`${published}\`: every version of a crate must use the ` +
            `name its first version was published with (${name} is another spelling of it)`,
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

/** The file name of a private crate's version, from the name the package is stored under. */
export function crateFileName(storedName: string, version: string): string {
  return `${storedName}-${version}.crate`;
}

/** The highest version not yanked, or the highest of all when every version is yanked. */
function newestVersion(state: PackageState): string {
  const all = [...state.versions.values()];
  const candidates = all.some((v) => !v.yanked) ? all.filter((v) => !v.yanked) : all;
  return candidates.map((v) => v.version).sort(compareVersions).at(-1)!;
}
