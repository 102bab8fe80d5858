// The cargo sparse registry under /cargo/: config.json, index files relayed byte for byte (never
// re-serialized: a proxy that did so lost fields such as rust_version), and .crate downloads
// verified against the index's `cksum`. Storage, upstream and freshness are the shared ones.
// Crates published here (private_crates.ts) are served only from the store, never from upstream,
// and cargo's write API (publish, yank, unyank, search) is routed to them.
import { JsonBlobCache } from "../../store/json_blob_cache.ts";
import type { MetadataOutcome } from "../../upstream/metadata_cache.ts";
import type { EcosystemContext } from "../context.ts";
import { baseUrlFor, errorResponse, jsonResponse } from "../http.ts";
import { UpstreamDataError } from "../outcomes.ts";
import { serveDocument } from "../documents.ts";
import { servePackageFile } from "../package_files.ts";
import { crateVersionParams, indexFileParam, indexPath, isValidCrateName } from "./names.ts";
import type { PrivatePackages } from "../../store/private_packages.ts";
import type { EcosystemService } from "../ecosystem.ts";
import { type Route, route } from "../route_table.ts";
import { PrivateCrates } from "./private_crates.ts";

export interface CargoOptions {
  /** The sparse index root, e.g. https://index.crates.io */
  indexUpstream: string;
  /** Where .crate files come from: `{files}/{crate}/{version}/download`. */
  filesUpstream: string;
}

export const DEFAULT_CARGO_INDEX = "https://index.crates.io";
export const DEFAULT_CARGO_FILES = "https://static.crates.io/crates";

/** Where cargo's routes live. */
export const CARGO_PREFIX = "/cargo";
/** KV prefix of cached index files: `[...INDEX_FILES, crate]` → IndexRecord. */
export const INDEX_FILES = ["cargo", "index"] as const;
/** KV prefix of cached .crate files: `[...CRATE_FILES, crate, version]` → StoredFile. */
export const CRATE_FILES = ["cargo", "crate"] as const;

interface IndexRecord {
  digest: string;
  /** version → sha256 of the .crate, parsed once from the index lines. */
  checksumsDigest: string;
}

export class CargoRegistry implements EcosystemService {
  readonly routes: readonly Route[];
  readonly #index: string;
  readonly #files: string;
  readonly #checksums: JsonBlobCache<Record<string, string>>;
  readonly #private: PrivateCrates;

  constructor(private readonly ctx: EcosystemContext, options: CargoOptions) {
    this.#index = options.indexUpstream.replace(/\/+$/, "");
    this.#files = options.filesUpstream.replace(/\/+$/, "");
    this.#checksums = new JsonBlobCache(ctx.blobs);
    this.#private = new PrivateCrates(
      ctx,
      async (name) => (await this.#fetchIndex(name)).kind !== "not-found",
    );
    this.routes = this.#routes();
  }

  get privates(): PrivatePackages {
    return this.#private.privates;
  }

  init(): Promise<void> {
    return this.privates.init();
  }

  canonicalName(name: string): string | undefined {
    return isValidCrateName(name) ? name.toLowerCase() : undefined;
  }

  idle(): Promise<void> {
    return this.ctx.idle();
  }

  /** The sparse index, downloads, and the web API cargo's write commands use. */
  #routes(): Route[] {
    const P = CARGO_PREFIX;
    const crates = `${P}/api/v1/crates`;
    const privates = this.#private;
    const withToken = async (request: Request, write: () => Promise<Response>) => {
      const refusal = this.ctx.auth.refusal(request);
      if (!refusal) return await write();
      await request.body?.cancel().catch(() => {});
      return refusal;
    };
    return [
      route({
        method: "GET",
        pattern: `${P}/index/config.json`,
        description: "the sparse index's config: dl and api point at this server",
        handle: (request) => this.#config(request),
      }),
      route({
        method: "GET",
        pattern: `${P}/index/:path+`,
        description: "an index file, relayed byte for byte (1/a, 3/l/log, se/rd/serde)",
        params: (raw) => {
          const name = indexFileParam(raw.path);
          return name === undefined ? undefined : { name };
        },
        subject: ({ name }) => name,
        handle: (request, { name }) => this.#indexFile(request, name),
      }),
      route({
        method: "GET",
        pattern: crates,
        description: "cargo search: the private crates",
        subject: () => "a crate search",
        handle: (request) => privates.search(request),
      }),
      route({
        method: "PUT",
        pattern: `${crates}/new`,
        description: "cargo publish of a private crate (token required)",
        subject: () => "a crate upload",
        handle: (request) => withToken(request, () => privates.publish(request)),
      }),
      route({
        method: "GET",
        pattern: `${crates}/:name/:version/download`,
        description: "a .crate file, verified against the index's cksum",
        params: (raw) => crateVersionParams(raw.name, raw.version),
        subject: ({ name, version }) => `${name} ${version}`,
        handle: (request, { name, version }) => this.#download(request, name, version),
      }),
      ...([["yank", "DELETE", true], ["unyank", "PUT", false]] as const).map(
        ([action, method, yanked]) =>
          route({
            method,
            pattern: `${crates}/:name/:version/${action}`,
            description: `cargo ${yanked ? "yank" : "yank --undo"} of a private crate (token)`,
            params: (raw) => crateVersionParams(raw.name, raw.version),
            subject: ({ name, version }) => `${name.toLowerCase()} ${version}`,
            handle: (request, { name, version }) =>
              withToken(
                request,
                () => privates.setYanked(name.toLowerCase(), version, yanked),
              ),
          }),
      ),
    ];
  }

  /** `dl` and `api` point at this server, as the client reached it. */
  #config(request: Request): Response {
    const base = baseUrlFor(request, this.ctx.fallbackHost, CARGO_PREFIX);
    return jsonResponse({ dl: `${base}/api/v1/crates`, api: base }, 200, {
      "cache-control": "max-age=300, public",
    });
  }

  #fetchIndex(name: string): Promise<MetadataOutcome<IndexRecord>> {
    return this.ctx.metadata.get<IndexRecord>({
      key: [...INDEX_FILES, name],
      url: `${this.#index}/${indexPath(name)}`,
      ingest: async (body) => {
        assertIndexLines(name, body);
        const [digest, checksumsDigest] = await Promise.all([
          this.ctx.blobs.putBytes(body),
          this.#checksums.put(parseChecksums(body)),
        ]);
        return { digest, checksumsDigest };
      },
    });
  }

  async #indexFile(request: Request, name: string): Promise<Response> {
    if (this.#private.has(name)) return this.#private.indexFile(request, name);
    const outcome = await this.#fetchIndex(name);
    if (outcome.kind === "not-found") return errorResponse(404, `crate ${name} not found`);
    return serveDocument(this.ctx, request, {
      outcome,
      digest: outcome.record.digest,
      baseUrl: "", // index files carry no URLs of ours
      contentType: "text/plain; charset=utf-8",
      cacheControl: "max-age=60, public",
      vary: "Accept-Encoding",
      what: `the index file of ${name}`,
    });
  }

  #download(request: Request, name: string, version: string): Promise<Response> {
    const crate = name.toLowerCase();
    if (this.#private.has(crate)) return this.#private.download(request, name, version);
    return servePackageFile(this.ctx, request, {
      recordKey: [...CRATE_FILES, crate, version],
      label: `cargo:${crate}-${version}.crate`,
      contentType: "application/gzip",
      resolve: async () => {
        const outcome = await this.#fetchIndex(crate);
        if (outcome.kind === "not-found") return errorResponse(404, `crate ${name} not found`);
        const checksum = (await this.#checksums.get(outcome.record.checksumsDigest))[version];
        if (!checksum) return errorResponse(404, `crate ${name} has no version ${version}`);
        // Always the configured files upstream's standard path: the upstream index's own
        // config.json (its `dl`) is never fetched, so no upstream document decides where .crate
        // files come from (and the upstream client refuses any other origin, redirects too).
        return {
          url: `${this.#files}/${encodeURIComponent(name)}/${version}/download`,
          expected: { algorithm: "sha256", hex: checksum },
        };
      },
    });
  }
}

/**
 * An index file is JSON lines; anything else (an HTML error page from a proxy, say) must not be
 * cached and handed to cargo as the crate's index. The bytes are still relayed unchanged.
 */
function assertIndexLines(name: string, body: Uint8Array): void {
  const text = new TextDecoder().decode(body);
  const lines = text.split("\n").filter((line) => line.trim() !== "");
  if (lines.length === 0 || lines.some((line) => !line.trimStart().startsWith("{"))) {
    throw new UpstreamDataError(`upstream sent something other than index lines for ${name}`);
  }
}

/** `vers` → `cksum` for every well-formed line; the index bytes themselves stay untouched. */
function parseChecksums(body: Uint8Array): Record<string, string> {
  const checksums: Record<string, string> = {};
  for (const line of new TextDecoder().decode(body).split("\n")) {
    if (!line.trim()) continue;
    try {
      const entry = JSON.parse(line);
      if (typeof entry.vers === "string" && /^[0-9a-f]{64}$/.test(entry.cksum)) {
        checksums[entry.vers] = entry.cksum;
      }
    } catch {
      // A malformed line is relayed as it is; cargo decides what to do with it.
    }
  }
  return checksums;
}
