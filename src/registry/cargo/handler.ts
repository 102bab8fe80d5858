// The cargo sparse registry under /cargo/: config.json, index files relayed byte for byte (never
// re-serialized: a proxy that did so lost fields such as rust_version), and .crate downloads
// verified against the index's `cksum`. Storage, upstream and freshness are the shared ones.
import { JsonBlobCache } from "../../store/json_blob_cache.ts";
import type { MetadataOutcome } from "../../upstream/metadata_cache.ts";
import type { EcosystemContext } from "../context.ts";
import { baseUrlFor, jsonResponse } from "../http.ts";
import { failureResponse } from "../outcomes.ts";
import { serveDocument } from "../documents.ts";
import { servePackageFile } from "../package_files.ts";
import { type CargoRoute, indexPath, isValidCrateName, parseCargoPath } from "./names.ts";
import { type PackageState, PrivatePackages } from "../../store/private_packages.ts";
import type { EcosystemRegistry } from "../ecosystem.ts";

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
  readonly privates: PrivatePackages;
  readonly cachedFilesPrefix = ["cargo", "crate"];
  readonly #index: string;
  readonly #files: string;
  readonly #checksums: JsonBlobCache<Record<string, string>>;

  constructor(private readonly ctx: EcosystemContext, options: CargoOptions) {
    this.#index = options.indexUpstream.replace(/\/+$/, "");
    this.#files = options.filesUpstream.replace(/\/+$/, "");
    this.#checksums = new JsonBlobCache(ctx.blobs);
    this.privates = new PrivatePackages(ctx.kv, ctx.blobs, "cargo", (state) => this.#render(state));
  }

  init(): Promise<void> {
    return this.privates.init();
  }

  canonicalName(name: string): string | undefined {
    return isValidCrateName(name) ? name.toLowerCase() : undefined;
  }

  /** The sparse-index file of a private crate, as a blob. */
  #render(_state: PackageState): Promise<Record<string, string>> {
    return Promise.resolve({}); // TODO(private cargo)
  }

  /** `path` is everything after `/cargo/`. */
  async handle(request: Request, path: string): Promise<Response> {
    const route = parseCargoPath(path);
    if (!route) return cargoError(404, `not a cargo registry path: /cargo/${path}`);
    if (request.method !== "GET" && request.method !== "HEAD") {
      return cargoError(405, `${request.method} is not supported on /cargo/${path}`);
    }
    if (route.kind === "config") return this.#config(request);
    this.ctx.stats.add("requests");
    try {
      return toCargoErrors(await this.#serve(request, route));
    } catch (error) {
      const what = route.kind === "download" ? `${route.name} ${route.version}` : route.name;
      return toCargoErrors(failureResponse(this.ctx, what, error));
    }
  }

  idle(): Promise<void> {
    return this.ctx.downloads.idle();
  }

  /** Packages whose metadata is cached. */
  packageCount(): Promise<number> {
    return this.ctx.countRecords(["cargo", "index"]);
  }

  /** `dl` and `api` point at this server, as the client reached it. */
  #config(request: Request): Response {
    const base = baseUrlFor(request, this.ctx.fallbackHost, CargoRegistry.prefix);
    return jsonResponse({ dl: `${base}/api/v1/crates`, api: base }, 200, {
      "cache-control": "max-age=300, public",
    });
  }

  #serve(request: Request, route: Exclude<CargoRoute, { kind: "config" }>): Promise<Response> {
    return route.kind === "index"
      ? this.#indexFile(request, route.name)
      : this.#download(request, route.name, route.version);
  }

  #fetchIndex(name: string): Promise<MetadataOutcome<IndexRecord>> {
    return this.ctx.metadata.get<IndexRecord>({
      key: ["cargo", "index", name],
      url: `${this.#index}/${indexPath(name)}`,
      ingest: async (body) => {
        const [digest, checksumsDigest] = await Promise.all([
          this.ctx.blobs.putBytes(body),
          this.#checksums.put(parseChecksums(body)),
        ]);
        return { digest, checksumsDigest };
      },
    });
  }

  async #indexFile(request: Request, name: string): Promise<Response> {
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
    return servePackageFile(this.ctx, request, {
      recordKey: ["cargo", "crate", crate, version],
      label: `cargo:${crate}-${version}.crate`,
      contentType: "application/gzip",
      resolve: async () => {
        const outcome = await this.#fetchIndex(crate);
        if (outcome.kind === "not-found") return cargoError(404, `crate ${name} not found`);
        const checksum = (await this.#checksums.get(outcome.record.checksumsDigest))[version];
        if (!checksum) return cargoError(404, `crate ${name} has no version ${version}`);
        return {
          url: `${this.#files}/${encodeURIComponent(name)}/${version}/download`,
          expected: { algorithm: "sha256", hex: checksum },
        };
      },
    });
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

/** cargo shows `errors[].detail` from a failed registry response. */
function cargoError(status: number, detail: string): Response {
  return jsonResponse({ errors: [{ detail }] }, status);
}

async function toCargoErrors(response: Response): Promise<Response> {
  if (response.status < 400 || !response.headers.get("content-type")?.includes("json")) {
    return response;
  }
  const body = await response.json().catch(() => ({}));
  if (Array.isArray(body.errors)) return jsonResponse(body, response.status);
  return cargoError(response.status, String(body.error ?? `HTTP ${response.status}`));
}
