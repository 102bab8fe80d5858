// The cargo sparse registry under /cargo/: config.json, index files relayed byte for byte (never
// re-serialized: a proxy that did so lost fields such as rust_version), and .crate downloads
// verified against the index's `cksum`. Storage, upstream and freshness are the shared ones.
// Crates published here (private_crates.ts) are served only from the store, never from upstream,
// and cargo's write API (publish, yank, unyank, search) is routed to them.
import { JsonBlobCache } from "../../store/json_blob_cache.ts";
import type { MetadataOutcome } from "../../upstream/metadata_cache.ts";
import type { EcosystemContext } from "../context.ts";
import { baseUrlFor, jsonResponse } from "../http.ts";
import { failureResponse, UpstreamDataError } from "../outcomes.ts";
import { serveDocument } from "../documents.ts";
import { servePackageFile } from "../package_files.ts";
import { ClientError } from "../request_body.ts";
import { type CargoRoute, indexPath, isValidCrateName, parseCargoPath } from "./names.ts";
import type { PrivatePackages } from "../../store/private_packages.ts";
import type { EcosystemRegistry } from "../ecosystem.ts";
import { cargoError, toCargoErrors } from "./errors.ts";
import { PrivateCrates } from "./private_crates.ts";

export interface CargoOptions {
  /** The sparse index root, e.g. https://index.crates.io */
  indexUpstream: string;
  /** Where .crate files come from: `{files}/{crate}/{version}/download`. */
  filesUpstream: string;
}

export const DEFAULT_CARGO_INDEX = "https://index.crates.io";
export const DEFAULT_CARGO_FILES = "https://static.crates.io/crates";

interface IndexRecord {
  digest: string;
  /** version → sha256 of the .crate, parsed once from the index lines. */
  checksumsDigest: string;
}

export class CargoRegistry implements EcosystemRegistry {
  static readonly prefix = "/cargo";
  readonly cachedFilesPrefix = ["cargo", "crate"];
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

  /** `path` is everything after `/cargo/`. */
  async handle(request: Request, path: string): Promise<Response> {
    const route = parseCargoPath(path);
    if (!route) return cargoError(404, `not a cargo registry path: /cargo/${path}`);
    const allowed = allowedMethods(route);
    if (!allowed.includes(request.method)) {
      await request.body?.cancel().catch(() => {});
      return cargoError(405, `${request.method} is not supported on /cargo/${path}`, {
        allow: allowed.join(", "),
      });
    }
    if (route.kind === "config") return this.#config(request);
    this.ctx.stats.add("requests");
    try {
      return await toCargoErrors(await this.#serve(request, route));
    } catch (error) {
      if (error instanceof ClientError) {
        await request.body?.cancel().catch(() => {});
        return cargoError(error.status, error.message);
      }
      return await toCargoErrors(failureResponse(this.ctx, describe(route), error));
    }
  }

  idle(): Promise<void> {
    return this.ctx.idle();
  }

  /** Packages whose metadata document is cached. */
  documentCount(): Promise<number> {
    return this.ctx.countRecords(["cargo", "index"]);
  }

  /** `dl` and `api` point at this server, as the client reached it. */
  #config(request: Request): Response {
    const base = baseUrlFor(request, this.ctx.fallbackHost, CargoRegistry.prefix);
    return jsonResponse({ dl: `${base}/api/v1/crates`, api: base }, 200, {
      "cache-control": "max-age=300, public",
    });
  }

  async #serve(
    request: Request,
    route: Exclude<CargoRoute, { kind: "config" }>,
  ): Promise<Response> {
    switch (route.kind) {
      case "index":
        return this.#indexFile(request, route.name);
      case "download":
        return this.#download(request, route.name, route.version);
      case "search":
        return this.#private.search(request);
      case "publish":
      case "yank": {
        const refusal = this.ctx.auth.refusal(request);
        if (refusal) {
          await request.body?.cancel().catch(() => {});
          return refusal;
        }
        return route.kind === "publish"
          ? await this.#private.publish(request)
          : await this.#private.setYanked(route.name, route.version, route.yanked);
      }
    }
  }

  #fetchIndex(name: string): Promise<MetadataOutcome<IndexRecord>> {
    return this.ctx.metadata.get<IndexRecord>({
      key: ["cargo", "index", name],
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
    if (outcome.kind === "not-found") return cargoError(404, `crate ${name} not found`);
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
      recordKey: ["cargo", "crate", crate, version],
      label: `cargo:${crate}-${version}.crate`,
      contentType: "application/gzip",
      resolve: async () => {
        const outcome = await this.#fetchIndex(crate);
        if (outcome.kind === "not-found") return cargoError(404, `crate ${name} not found`);
        const checksum = (await this.#checksums.get(outcome.record.checksumsDigest))[version];
        if (!checksum) return cargoError(404, `crate ${name} has no version ${version}`);
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

/** The methods a route answers, as cargo sends them (yank is DELETE, unyank PUT). */
function allowedMethods(route: CargoRoute): string[] {
  switch (route.kind) {
    case "publish":
      return ["PUT"];
    case "yank":
      return [route.yanked ? "DELETE" : "PUT"];
    default:
      return ["GET", "HEAD"];
  }
}

function describe(route: Exclude<CargoRoute, { kind: "config" }>): string {
  switch (route.kind) {
    case "download":
    case "yank":
      return `${route.name} ${route.version}`;
    case "index":
      return route.name;
    case "publish":
      return "a crate upload";
    case "search":
      return "a crate search";
  }
}
