// Go modules under /go/ (the GOPROXY protocol), and the checksum database passed through under
// /go/sumdb/sum.golang.org/ (the go command asks its proxy for it; sum.golang.org itself need not
// be reachable). Storage, upstream and freshness are the shared ones:
//
//   .info .mod .zip of a version   immutable: downloaded once (coalesced), checked, stored for
//                                  good. .mod and .zip must hash (h1:, computed here) to what the
//                                  checksum database's record says; .info must be JSON naming
//                                  the version. A contradicted file is a 502 and is not stored.
//                                  A module the database does not know (404/410: a private
//                                  module, say) is relayed as the upstream sends it, never
//                                  stored: there is nothing to check it against.
//   list, @latest, .info of a      metadata: TTL and stale-while-revalidate (MetadataCache).
//   query (branch, commit)
//   sumdb lookup                   metadata; its tree head's signature is checked (sumdb.ts)
//   sumdb tiles, latest            metadata. A tile alone cannot be checked without the tree
//                                  (the go command checks it), so even full tiles get the TTL
//                                  rather than being kept forever unverified.
//
// Each kind of path is one route (#routes); the dispatcher does the method check, HEAD, counting
// and the answer to a thrown failure, and re-shapes every error as the plain text the go command
// shows (errors.ts). Nothing can be published here: /go/ has no private modules.
import { sha256Hex } from "../../store/hashing.ts";
import type { MetadataOutcome } from "../../upstream/metadata_cache.ts";
import { UpstreamStatusError, UpstreamUnavailableError } from "../../upstream/errors.ts";
import type { EcosystemContext } from "../context.ts";
import { serveDocument } from "../documents.ts";
import type { EcosystemService } from "../ecosystem.ts";
import { errorResponse, fileResponse } from "../http.ts";
import { countMetadataOutcome, UpstreamDataError } from "../outcomes.ts";
import { servePackageFile } from "../package_files.ts";
import { type Params, type Route, route } from "../route_table.ts";
import { goModHash, moduleZipHash } from "./dirhash.ts";
import { escapeForUrl, type GoRoute, type ModuleFile, parseGoPath, SUMDB_NAME } from "./names.ts";
import {
  checkSignedTree,
  ChecksumDatabaseError,
  type NoteVerifier,
  noteVerifier,
  parseLookup,
  SUM_GOLANG_ORG_KEY,
} from "./sumdb.ts";
import { fileVersionProblem, parseSemver } from "./versions.ts";
import { ZipFormatError } from "./zip_reader.ts";

export interface GoOptions {
  /** The module proxy, e.g. https://proxy.golang.org; it also proxies the checksum database. */
  upstream: string;
}

export const DEFAULT_GO_UPSTREAM = "https://proxy.golang.org";

/** Where Go's routes live: GOPROXY=<registry>/go. */
export const GO_PREFIX = "/go";
/** KV prefix of verified module files: `[...MODULE_FILES, module, "v1.2.3.zip"]` → StoredFile. */
export const MODULE_FILES = ["go", "file"] as const;
/**
 * KV prefix of the metadata documents about modules (version lists, @latest, queries, checksum
 * records): `[...MODULE_DOCUMENTS, kind, module, …]`. The checksum database's own tiles and tree
 * heads are under `["go", "sumdb"]`: they belong to no module.
 */
export const MODULE_DOCUMENTS = ["go", "doc"] as const;

/** Go's own limits (golang.org/x/mod/zip): bigger files are refused by the go command too. */
const MAX_GO_MOD_BYTES = 16 * 1024 * 1024;
const MAX_ZIP_INFLATED_BYTES = 500 * 1024 * 1024;
/** More files than any real module has; the central directory cannot hold more without zip64. */
const MAX_ZIP_ENTRIES = 65_535;
const MAX_INFO_BYTES = 64 * 1024;

const FILE_TYPES: Record<ModuleFile, string> = {
  info: "application/json",
  mod: "text/plain; charset=utf-8",
  zip: "application/zip",
};

interface DocumentRecord {
  digest: string;
}

/** A signed tree head, stored as a blob. */
interface TreeHead {
  noteDigest: string;
  treeSize: number;
}

interface LookupDocument extends TreeHead {
  /** The record's position in the log. */
  id: number;
  /** How the answer starts: the id, the record lines and the blank line after them. */
  record: string;
  zipHash?: string;
  modHash?: string;
}

/** The one tree head every lookup is answered with (see #lookupDocument). */
const PINNED_HEAD_KEY: Deno.KvKey = ["go", "sumdb", "pinned-head"];

type Found<R> = Exclude<MetadataOutcome<R>, { kind: "not-found" }>;
type Kind = Exclude<GoRoute["kind"], "sumdb-supported">;
type RouteOf<K extends Kind> = Extract<GoRoute, { kind: K }>;

/** The GOPROXY protocol and the checksum database under /go/. Nothing is published here. */
export class GoRegistry implements EcosystemService {
  readonly routes: readonly Route[];
  readonly #upstream: string;
  #verifier: Promise<NoteVerifier> | undefined;
  #pinning: Promise<TreeHead> | undefined;

  constructor(private readonly ctx: EcosystemContext, options: GoOptions) {
    this.#upstream = options.upstream.replace(/\/+$/, "");
    this.routes = this.#routes();
  }

  idle(): Promise<void> {
    return this.ctx.idle();
  }

  /**
   * One route per kind of GOPROXY path. A module path has any number of segments, so each
   * pattern takes them as one parameter, and its parser is parseGoPath (names.ts), the one place
   * that knows what a module path, a version and a tile path may look like: a route takes a path
   * only when parseGoPath reads it as that route's kind. A path no route takes gets parseGoPath's
   * reason (400 for an invalid module path or version, 404 otherwise: `goUnmatched`).
   */
  #routes(): Route[] {
    const P = GO_PREFIX;
    const S = `${P}/sumdb/${SUMDB_NAME}`;
    const sumdb = `sumdb/${SUMDB_NAME}`;
    /** A GET route for one kind; `rest` rebuilds the path after /go/ from the parameters. */
    const goRoute = <K extends Kind>(spec: {
      kind: K;
      pattern: string;
      description: string;
      rest: (raw: Params) => string;
      serve: (request: Request, target: RouteOf<K>) => Promise<Response>;
    }) =>
      route<RouteOf<K>>({
        method: "GET",
        pattern: spec.pattern,
        description: spec.description,
        params: (raw) => {
          const parsed = parseGoPath(spec.rest(raw));
          return parsed.kind === spec.kind ? parsed as RouteOf<K> : undefined;
        },
        subject: describe,
        handle: (request, target) => this.#notFoundUpstream(target, spec.serve(request, target)),
      });
    return [
      route({
        method: "GET",
        pattern: `${S}/supported`,
        description: "the go command asks whether the proxy passes the checksum database: it does",
        handle: () => new Response(null, { status: 200 }),
      }),
      goRoute({
        kind: "sumdb-latest",
        pattern: `${S}/latest`,
        description:
          "the checksum database's latest signed tree head (metadata, signature checked)",
        rest: () => `${sumdb}/latest`,
        serve: (request, target) => this.#latestTreeDocument(request, target),
      }),
      goRoute({
        kind: "sumdb-lookup",
        pattern: `${S}/lookup/:target+`,
        description: "a checksum record (signature checked), with the one pinned tree head",
        rest: (raw) => `${sumdb}/lookup/${raw.target}`,
        serve: (request, { module, version }) => this.#lookupDocument(request, module, version),
      }),
      goRoute({
        kind: "sumdb-tile",
        pattern: `${S}/tile/:path+`,
        description: "a tile of the checksum database's log (metadata; the go command checks it)",
        rest: (raw) => `${sumdb}/tile/${raw.path}`,
        serve: (request, tile) => this.#tile(request, tile),
      }),
      goRoute({
        kind: "list",
        pattern: `${P}/:module+/@v/list`,
        description: "a module's version list (metadata: TTL, stale-while-revalidate)",
        rest: (raw) => `${raw.module}/@v/list`,
        serve: (request, { module }) =>
          this.#text(request, {
            key: [...MODULE_DOCUMENTS, "list", module],
            url: `${this.#upstream}/${escapeForUrl(module)}/@v/list`,
            what: `the version list of ${module}`,
            contentType: "text/plain; charset=utf-8",
            check: checkVersionList,
          }),
      }),
      goRoute({
        kind: "latest",
        pattern: `${P}/:module+/@latest`,
        description: "a module's latest version (metadata)",
        rest: (raw) => `${raw.module}/@latest`,
        serve: (request, { module }) =>
          this.#text(request, {
            key: [...MODULE_DOCUMENTS, "latest", module],
            url: `${this.#upstream}/${escapeForUrl(module)}/@latest`,
            what: `the latest version of ${module}`,
            contentType: FILE_TYPES.info,
            check: (body) => checkInfo(body),
          }),
      }),
      goRoute({
        kind: "file",
        pattern: `${P}/:module+/@v/:file`,
        description: "a version's .info, .mod or .zip (.mod/.zip stored once their h1: matches " +
          "sum.golang.org's record; the .info of a query is metadata)",
        rest: (raw) => `${raw.module}/@v/${raw.file}`,
        serve: (request, { module, version, file }) => {
          // A query (a branch, a commit, v1) resolves to a version: that answer may change.
          if (file === "info" && fileVersionProblem(module, version)) {
            return this.#text(request, {
              key: [...MODULE_DOCUMENTS, "query", module, version],
              url: `${this.#upstream}/${escapeForUrl(module)}/@v/${escapeForUrl(version)}.info`,
              what: `${module}@${version}`,
              contentType: FILE_TYPES.info,
              check: (body) => checkInfo(body),
            });
          }
          return this.#moduleFile(request, module, version, file);
        },
      }),
    ];
  }

  /**
   * The upstream has no such file: "not found" to the go command too (it may then try the next
   * GOPROXY entry), not a broken proxy (the dispatcher's 502 for other upstream statuses).
   */
  async #notFoundUpstream(target: GoRoute, serving: Promise<Response>): Promise<Response> {
    try {
      return await serving;
    } catch (error) {
      if (error instanceof UpstreamStatusError && (error.status === 404 || error.status === 410)) {
        return errorResponse(404, `not found: ${describe(target)} (${error.message})`);
      }
      throw error;
    }
  }

  async #latestTreeDocument(request: Request, target: RouteOf<"sumdb-latest">) {
    const outcome = await this.#latestTree();
    if (outcome.kind === "not-found") return errorResponse(404, "not found: the latest tree");
    return this.#document(request, outcome, describe(target), "text/plain; charset=utf-8");
  }

  /** A metadata document served as the upstream sent it, once `check` accepted it. */
  async #text(request: Request, doc: {
    key: Deno.KvKey;
    url: string;
    what: string;
    contentType: string;
    /** Throws when the body is not what the route serves (never stored then). */
    check(body: Uint8Array): unknown;
  }): Promise<Response> {
    const outcome = await this.ctx.metadata.get<DocumentRecord>({
      key: doc.key,
      url: doc.url,
      ingest: async (body) => {
        await doc.check(body);
        return { digest: await this.ctx.blobs.putBytes(body) };
      },
    });
    if (outcome.kind === "not-found") return errorResponse(404, `not found: ${doc.what}`);
    return this.#document(request, outcome, doc.what, doc.contentType);
  }

  #document(
    request: Request,
    outcome: Found<DocumentRecord>,
    what: string,
    contentType: string,
  ): Promise<Response> {
    return serveDocument(this.ctx, request, {
      outcome,
      digest: outcome.record.digest,
      baseUrl: "", // nothing under /go/ carries a URL of ours
      contentType,
      cacheControl: "max-age=60, public",
      vary: "Accept-Encoding",
      what,
    });
  }

  #sumdbKey(): Promise<NoteVerifier> {
    return this.#verifier ??= noteVerifier(SUM_GOLANG_ORG_KEY);
  }

  /** The checksum record of module@version, its tree head's signature checked. */
  #lookup(module: string, version: string): Promise<MetadataOutcome<LookupDocument>> {
    return this.ctx.metadata.get<LookupDocument>({
      key: [...MODULE_DOCUMENTS, "lookup", module, version],
      url: `${this.#upstream}/sumdb/${SUMDB_NAME}/lookup/${escapeForUrl(module)}@${
        escapeForUrl(version)
      }`,
      ingest: async (body) => {
        const lookup = await parseLookup(body, module, version, await this.#sumdbKey())
          .catch((error) => {
            if (!(error instanceof ChecksumDatabaseError)) throw error;
            throw new ChecksumDatabaseError(
              `the checksum record of ${module}@${version} is not used: ${error.message}`,
            );
          });
        return {
          id: lookup.id,
          record: lookup.record,
          noteDigest: await this.ctx.blobs.putBytes(new TextEncoder().encode(lookup.note)),
          treeSize: lookup.treeSize,
          ...(lookup.zipHash ? { zipHash: lookup.zipHash } : {}),
          ...(lookup.modHash ? { modHash: lookup.modHash } : {}),
        };
      },
    });
  }

  /** The database's latest signed tree head (metadata like the rest). */
  #latestTree(): Promise<MetadataOutcome<TreeHead & DocumentRecord>> {
    return this.ctx.metadata.get<TreeHead & DocumentRecord>({
      key: ["go", "sumdb", "latest"],
      url: `${this.#upstream}/sumdb/${SUMDB_NAME}/latest`,
      ingest: async (body) => {
        const treeSize = await checkSignedTree(body, await this.#sumdbKey());
        const digest = await this.ctx.blobs.putBytes(body);
        return { digest, noteDigest: digest, treeSize };
      },
    });
  }

  /**
   * A lookup is answered with its record and the pinned tree head, not the head the upstream sent
   * with it. Any signed head whose tree holds the record is a valid answer, and the go command
   * checks each record against the newest head it has merged so far: with heads that differ from
   * lookup to lookup, the tiles it needs depend on the order its parallel lookups finish, so a
   * second `go mod download` would ask for tiles the first did not. With one head they are the
   * same every time, and all cached. The pinned head moves on (to the newest head at hand) only
   * when a record is not in its tree yet.
   */
  async #lookupDocument(request: Request, module: string, version: string): Promise<Response> {
    const outcome = await this.#lookup(module, version);
    if (outcome.kind === "not-found") {
      return errorResponse(404, `not found: ${module}@${version} is not in the checksum database`);
    }
    countMetadataOutcome(this.ctx, outcome);
    const lookup = outcome.record;
    const head = await this.#headFor(lookup);
    const note = await this.ctx.blobs.readBytes(head.noteDigest);
    if (!note) throw new Error(`the stored tree head ${head.noteDigest} is missing`);
    const record = new TextEncoder().encode(lookup.record);
    const body = new Uint8Array(record.byteLength + note.byteLength);
    body.set(record);
    body.set(note, record.byteLength);
    const response = await fileResponse(request, {
      path: "",
      bytes: body,
      etag: `"${sha256Hex(body)}"`,
      headers: {
        "content-type": "text/plain; charset=utf-8",
        "cache-control": "max-age=60, public",
      },
      onBytes: (n) => {
        this.ctx.stats.add("servedBytes", n);
        this.ctx.stats.add("directBytes", lookup.upstreamSize ?? n);
      },
    });
    return response!;
  }

  /** The pinned tree head, moved on first when its tree does not hold `lookup`'s record. */
  async #headFor(lookup: LookupDocument): Promise<TreeHead> {
    while (true) {
      const pinned = (await this.ctx.kv.get<TreeHead>(PINNED_HEAD_KEY)).value;
      if (pinned && lookup.id < pinned.treeSize) return pinned;
      if (!this.#pinning) {
        this.#pinning = this.#pinNewer(lookup, pinned).finally(() => this.#pinning = undefined);
        return await this.#pinning;
      }
      await this.#pinning.catch(() => {});
    }
  }

  /** Pins the newest head at hand: the latest tree when it can be had, else the lookup's own. */
  async #pinNewer(lookup: LookupDocument, pinned: TreeHead | null): Promise<TreeHead> {
    const candidates: TreeHead[] = [{ noteDigest: lookup.noteDigest, treeSize: lookup.treeSize }];
    if (pinned) candidates.push(pinned);
    try {
      const latest = await this.#latestTree();
      if (latest.kind !== "not-found") candidates.push(latest.record);
    } catch (error) {
      this.ctx.log.warn(`the latest checksum tree is not at hand: ${(error as Error).message}`);
    }
    const newest = candidates.reduce((a, b) => (b.treeSize > a.treeSize ? b : a));
    const head = { noteDigest: newest.noteDigest, treeSize: newest.treeSize };
    await this.ctx.kv.set(PINNED_HEAD_KEY, head);
    return head;
  }

  /**
   * A tile is binary: its stored bytes are served as they are (no rendering, whose copies are
   * text). Hash tiles hold `width` hashes of 32 bytes; data tiles are only bounded.
   */
  async #tile(request: Request, tile: Extract<GoRoute, { kind: "sumdb-tile" }>) {
    const what = `the checksum database tile ${tile.path}`;
    const outcome = await this.ctx.metadata.get<DocumentRecord>({
      key: ["go", "sumdb", "tile", tile.path],
      url: `${this.#upstream}/sumdb/${SUMDB_NAME}/${tile.path}`,
      ingest: async (body) => {
        if (!tile.data && body.byteLength !== tile.width * 32) {
          throw new UpstreamDataError(
            `${what} has ${body.byteLength} bytes, not ${tile.width} hashes of 32 bytes`,
          );
        }
        return { digest: await this.ctx.blobs.putBytes(body) };
      },
    });
    if (outcome.kind === "not-found") return errorResponse(404, `not found: ${what}`);
    countMetadataOutcome(this.ctx, outcome);
    const response = await fileResponse(request, {
      path: this.ctx.blobs.pathOf(outcome.record.digest),
      etag: `"${outcome.record.digest}"`,
      headers: {
        "content-type": "application/octet-stream",
        "cache-control": "max-age=60, public",
      },
      onBytes: (n) => {
        this.ctx.stats.add("servedBytes", n);
        this.ctx.stats.add("directBytes", n);
      },
    });
    return response ?? errorResponse(500, `the stored ${what} vanished`);
  }

  /** .info, .mod or .zip of a canonical version: immutable once checked. */
  #moduleFile(
    request: Request,
    module: string,
    version: string,
    file: ModuleFile,
  ): Promise<Response> {
    const name = `${module}@${version}.${file}`;
    const url = `${this.#upstream}/${escapeForUrl(module)}/@v/${escapeForUrl(version)}.${file}`;
    return servePackageFile(this.ctx, request, {
      recordKey: [...MODULE_FILES, module, `${version}.${file}`],
      label: `go:${name}`,
      contentType: FILE_TYPES[file],
      resolve: async () => {
        const lookup = await this.#lookup(module, version);
        if (lookup.kind === "not-found") return await this.#relay(url, name, file);
        const record = lookup.record;
        return {
          url,
          answerWhenVerified: true,
          verify: (path) => this.#verify(path, { module, version, file, record }),
        };
      },
    });
  }

  async #verify(path: string, target: {
    module: string;
    version: string;
    file: ModuleFile;
    record: LookupDocument;
  }): Promise<void> {
    const { module, version, file, record } = target;
    const name = `${module}@${version}.${file}`;
    const { size } = await Deno.stat(path);
    if (file === "info") {
      if (size > MAX_INFO_BYTES) throw new UpstreamDataError(`${name} has ${size} bytes`);
      const info = checkInfo(await Deno.readFile(path));
      if (info.Version !== version) {
        throw new UpstreamDataError(`${name} names version ${info.Version}; not stored`);
      }
      return;
    }
    const published = file === "mod" ? record.modHash : record.zipHash;
    if (!published) {
      throw new UpstreamDataError(
        `${SUMDB_NAME} has no ${file === "mod" ? "go.mod " : ""}hash for ${module}@${version}`,
      );
    }
    let actual: string;
    if (file === "mod") {
      if (size > MAX_GO_MOD_BYTES) throw new UpstreamDataError(`${name} has ${size} bytes`);
      actual = goModHash(await Deno.readFile(path));
    } else {
      try {
        actual = await moduleZipHash(path, module, version, {
          maxEntries: MAX_ZIP_ENTRIES,
          maxTotalBytes: Math.min(MAX_ZIP_INFLATED_BYTES, this.ctx.upstream.limits.maxFileBytes),
        });
      } catch (error) {
        if (!(error instanceof ZipFormatError)) throw error;
        throw new UpstreamDataError(
          `${name} from the upstream is not a module zip this registry accepts ` +
            `(${error.message}); not stored, not served`,
        );
      }
    }
    if (actual !== published) {
      throw new UpstreamDataError(
        `${name} from the upstream hashes to ${actual}, but ${SUMDB_NAME} has ${published}: ` +
          "the checksum database contradicts it; not stored, not served",
      );
    }
  }

  /**
   * A file of a module the checksum database does not know, passed through as the upstream sends
   * it and never stored: nothing here can vouch for it (the go command applies its own GONOSUMDB,
   * GOPRIVATE and go.sum rules to it).
   */
  async #relay(url: string, name: string, file: ModuleFile) {
    this.ctx.stats.add("cacheMisses");
    const response = await this.ctx.upstream.request(url, {}, {
      decompress: false,
      limit: { bytes: this.ctx.upstream.limits.maxFileBytes, name: "max_file_size" },
    });
    if (response.status === 404 || response.status === 410) {
      await response.body.cancel();
      return errorResponse(404, `not found: ${name}`);
    }
    if (response.status !== 200) {
      await response.body.cancel();
      if (response.status >= 500 || response.status === 429) {
        throw new UpstreamUnavailableError(url, `answered ${response.status}`);
      }
      throw new UpstreamStatusError(url, response.status);
    }
    const headers = new Headers({ "content-type": FILE_TYPES[file], "cache-control": "no-store" });
    const length = response.headers.get("content-length");
    if (length !== null && /^\d+$/.test(length)) headers.set("content-length", length);
    return new Response(countedAsRead(response.body, (n) => this.ctx.stats.add("servedBytes", n)), {
      headers,
    });
  }
}

/**
 * The body as the client reads it, each chunk counted then. Nothing is read from the upstream
 * before the client reads: a HEAD (the GET answer without its body) cancels it unread.
 */
function countedAsRead(
  body: ReadableStream<Uint8Array>,
  count: (n: number) => void,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { value, done } = await reader.read();
      if (done) {
        controller.close();
        return;
      }
      count(value.byteLength);
      controller.enqueue(value);
    },
    cancel: (reason) => reader.cancel(reason),
  }, { highWaterMark: 0 });
}

/** Every line of a version list starts with a version (what the go command reads of it). */
function checkVersionList(body: Uint8Array): void {
  const text = new TextDecoder().decode(body);
  for (const line of text.split("\n")) {
    const version = line.trim().split(/\s+/)[0];
    if (version === "") continue;
    if (version.length > 200 || !parseSemver(version)) {
      throw new UpstreamDataError(
        `upstream sent a version list with a line that is not a version: ${
          JSON.stringify(line.slice(0, 100))
        }`,
      );
    }
  }
}

/** An .info document: a JSON object whose Version is a semantic version. */
function checkInfo(body: Uint8Array): { Version: string } {
  let info: unknown;
  try {
    info = JSON.parse(new TextDecoder().decode(body));
  } catch {
    throw new UpstreamDataError("upstream sent version info that is not JSON");
  }
  const version = (info as { Version?: unknown } | null)?.Version;
  if (typeof version !== "string" || !parseSemver(version)) {
    throw new UpstreamDataError("upstream sent version info without a valid Version");
  }
  return { Version: version };
}

/** What a request is about, for messages ("github.com/pkg/errors@v0.9.1.zip"). */
function describe(route: GoRoute): string {
  switch (route.kind) {
    case "list":
      return `the version list of ${route.module}`;
    case "latest":
      return `the latest version of ${route.module}`;
    case "file":
      return `${route.module}@${route.version}.${route.file}`;
    case "sumdb-lookup":
      return `the checksum record of ${route.module}@${route.version}`;
    case "sumdb-latest":
      return "the checksum database's latest tree";
    case "sumdb-tile":
      return `the checksum database tile ${route.path}`;
    case "sumdb-supported":
      return "the checksum database's support";
  }
}
