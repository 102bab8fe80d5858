// The npm protocol under /npm/: packuments (full and abbreviated), tarballs, ping and audit.
// Storage, upstream fetching and freshness are the shared ones; this file only speaks npm.
import type { EcosystemContext } from "../context.ts";
import { baseUrlFor, errorResponse, jsonResponse } from "../http.ts";
import { type ExpectedDigest, parseIntegrity } from "../../store/hashing.ts";
import { JsonBlobCache } from "../../store/json_blob_cache.ts";
import type { MetadataOutcome } from "../../upstream/metadata_cache.ts";
import { countMetadataOutcome } from "../outcomes.ts";
import { serveDocument } from "../documents.ts";
import { fileNotListed, servePackageFile } from "../package_files.ts";
import {
  distTagParam,
  isValidPackageName,
  packageParam,
  revisionParam,
  tarballParam,
  upstreamNamePath,
  versionOrTagParam,
} from "./names.ts";
import { NpmPrivateRoutes } from "./private_routes.ts";
import { ClientError, readLimitedBody } from "../request_body.ts";
import { privateDocumentOutcome } from "../documents.ts";
import { PrivatePackages } from "../../store/private_packages.ts";
import type { EcosystemService } from "../ecosystem.ts";
import { type Params, type Route, route } from "../route_table.ts";
import {
  derivePackument,
  rewriteTarballUrls,
  type TarballDigests,
  type VersionIndex,
} from "./packument.ts";
import { Coalescer } from "../../store/coalescer.ts";
import type { BlobStore } from "../../store/blob_store.ts";
import { BASE_URL_PLACEHOLDER } from "../../store/rendered_documents.ts";

export interface NpmOptions {
  /** e.g. https://registry.npmjs.org (no trailing slash needed). */
  upstream: string;
}

/** What KV keeps per package (the documents themselves are blobs). */
interface PackumentRecord {
  name: string;
  fullDigest: string;
  /** Made from the full document the first time they are needed (see packument.ts). */
  derived?: DerivedDigests;
}

interface DerivedDigests {
  abbreviatedDigest: string;
  tarballIndexDigest: string;
  /**
   * The version manifests and their index, made only once `/<name>/<version>` is asked for (an
   * install never needs them, and they are nearly the full document's size again).
   */
  versions?: { indexDigest: string; manifestsDigest: string };
}

/** Where npm's routes live. */
export const NPM_PREFIX = "/npm";
/** KV prefix of cached packuments: `[...PACKUMENTS, name]` → PackumentRecord. */
export const PACKUMENTS = ["npm", "packument"] as const;
/** KV prefix of cached tarballs: `[...TARBALLS, name, filename]` → StoredFile. */
export const TARBALLS = ["npm", "tarball"] as const;

const ABBREVIATED_TYPE = "application/vnd.npm.install-v1+json";
/** The audit endpoints npm POSTs to at the end of an install (forwarded upstream). */
const AUDIT_PATHS = [
  "-/npm/v1/security/advisories/bulk",
  "-/npm/v1/security/audits/quick",
];
const AUDIT_TIMEOUT_MS = 15_000;
const PING_TIMEOUT_MS = 5_000;
/** An audit body lists the names and versions of one tree: a few hundred KB, gzipped. */
const MAX_AUDIT_BODY = 16 * 1024 * 1024;
/** Derivations of private documents kept in memory (their record is not the cache's). */
const MAX_PRIVATE_DERIVED = 256;

export class NpmRegistry implements EcosystemService {
  readonly privates: PrivatePackages;
  readonly routes: readonly Route[];
  readonly #upstream: string;
  readonly #tarballIndexes: JsonBlobCache<Record<string, TarballDigests>>;
  readonly #versionIndexes: JsonBlobCache<VersionIndex>;
  readonly #deriving = new Coalescer<DerivedDigests>();
  /** Private full document digest → what was derived from it. */
  readonly #privateDerived = new Map<string, DerivedDigests>();
  readonly #private: NpmPrivateRoutes;

  constructor(private readonly ctx: EcosystemContext, options: NpmOptions) {
    this.#upstream = options.upstream.replace(/\/+$/, "");
    this.#tarballIndexes = new JsonBlobCache(ctx.blobs);
    this.#versionIndexes = new JsonBlobCache(ctx.blobs);
    this.privates = new PrivatePackages(
      ctx.kv,
      ctx.blobs,
      "npm",
      (state) => this.#private.render(state),
    );
    this.#private = new NpmPrivateRoutes(ctx, this.privates, (name) => this.#existsUpstream(name));
    this.routes = this.#routes();
  }

  init(): Promise<void> {
    return this.privates.init();
  }

  canonicalName(name: string): string | undefined {
    return isValidPackageName(name) ? name : undefined;
  }

  /** Whether the public registry has the name (a stale copy counts: it had it). */
  async #existsUpstream(name: string): Promise<boolean> {
    return (await this.#fetchPackument(name)).kind !== "not-found";
  }

  /** npm's routes, the `-/` ones first: no package name starts with `-`. */
  #routes(): Route[] {
    const P = NPM_PREFIX;
    const privates = this.#private;
    return [
      route({
        method: "GET",
        pattern: `${P}/-/ping`,
        description: "npm ping: the registry answers (with the upstream's status)",
        handle: () => this.#ping(),
      }),
      ...AUDIT_PATHS.map((path) =>
        route({
          method: "POST",
          pattern: `${P}/${path}`,
          description: "npm audit: forwarded to the upstream byte for byte",
          handle: (request) => this.#forwardAudit(request, path),
        })
      ),
      route({
        method: "GET",
        pattern: `${P}/-/whoami`,
        description: "npm whoami: the token's user (token required)",
        handle: (request) => privates.whoami(request),
      }),
      route({
        method: ["GET", "PUT", "POST", "DELETE"],
        pattern: `${P}/-/package/:package+/dist-tags`,
        description: "a private package's dist-tags (writes need the token)",
        params: (raw) => withName(raw, {}),
        handle: (request, { name }) => privates.distTags(request, { name }),
      }),
      route({
        method: ["GET", "PUT", "POST", "DELETE"],
        pattern: `${P}/-/package/:package+/dist-tags/:tag`,
        description: "set or remove one dist-tag of a private package (token required)",
        params: (raw) => withName(raw, { tag: distTagParam(raw.tag) }),
        handle: (request, params) => privates.distTags(request, params),
      }),
      route({
        method: "PUT",
        pattern: `${P}/:package+/-rev/:rev`,
        description: "npm deprecate / unpublish of a version: the document written back (token)",
        params: (raw) => withName(raw, { rev: revisionParam(raw.rev) }),
        handle: (request, { name, rev }) => privates.put(request, name, rev),
      }),
      route({
        method: "DELETE",
        pattern: `${P}/:package+/-rev/:rev`,
        description: "npm unpublish of a whole private package (token required)",
        params: (raw) => withName(raw, { rev: revisionParam(raw.rev) }),
        handle: (request, { name, rev }) => privates.unpublishAll(request, name, rev),
      }),
      route({
        method: "DELETE",
        pattern: `${P}/:package+/-/:file/-rev/:rev`,
        description: "the tarball removal that ends `npm unpublish name@version` (token required)",
        params: (raw) =>
          withName(raw, { filename: tarballParam(raw.file), rev: revisionParam(raw.rev) }),
        handle: (request, { name, filename }) => privates.deleteTarball(request, name, filename),
      }),
      route({
        method: "GET",
        pattern: `${P}/:package+/-/:file`,
        description: "a tarball, verified against the packument's integrity",
        params: (raw) => withName(raw, { filename: tarballParam(raw.file) }),
        subject: ({ name, filename }) => `${name}/${filename}`,
        handle: (request, { name, filename }) => this.#tarball(request, name, filename),
      }),
      route({
        method: "GET",
        pattern: `${P}/:package+`,
        description: "a packument, full or abbreviated by Accept",
        params: (raw) => withName(raw, {}),
        subject: ({ name }) => name,
        handle: (request, { name }) => this.#packument(request, name),
      }),
      route({
        method: "PUT",
        pattern: `${P}/:package+`,
        description: "npm publish (or a document update) of a private package (token required)",
        params: (raw) => withName(raw, {}),
        handle: (request, { name }) => privates.put(request, name, undefined),
      }),
      route({
        method: "GET",
        pattern: `${P}/:package+/:version`,
        description: "one version's manifest, by version or dist-tag (npm view name@1.2.3)",
        params: (raw) => withName(raw, { version: versionOrTagParam(raw.version) }),
        subject: ({ name }) => name,
        handle: (request, { name, version }) => this.#version(request, name, version),
      }),
    ];
  }

  /** Resolves when no download of this ecosystem is running (graceful shutdown). */
  idle(): Promise<void> {
    return this.ctx.idle();
  }

  #fetchPackument(name: string): Promise<MetadataOutcome<PackumentRecord>> {
    return this.ctx.metadata.get<PackumentRecord>({
      key: [...PACKUMENTS, name],
      url: `${this.#upstream}/${upstreamNamePath(name)}`,
      // The full document: the abbreviated one is derived here, so one upstream fetch serves both.
      headers: { accept: "application/json" },
      ingest: async (body) => {
        const template = rewriteTarballUrls(name, new TextDecoder().decode(body));
        const fullDigest = await this.ctx.blobs.putBytes(new TextEncoder().encode(template));
        this.ctx.rendered.remember(fullDigest, template);
        return { name, fullDigest };
      },
    });
  }

  /**
   * The abbreviated document and tarball index of a stored packument (and, with `versions`, the
   * version manifests and their index), made once per document: kept in the cache's record, or in
   * memory for a private package's document.
   */
  #derived(
    name: string,
    record: PackumentRecord,
    { isPrivate = false, versions = false } = {},
  ): Promise<DerivedDigests> {
    const done = (derived: DerivedDigests | undefined): derived is DerivedDigests =>
      derived !== undefined && (!versions || derived.versions !== undefined);
    if (done(record.derived)) return Promise.resolve(record.derived);
    const known = isPrivate ? this.#privateDerived.get(record.fullDigest) : undefined;
    if (done(known)) return Promise.resolve(known);
    const key = `${record.fullDigest}${versions ? ":versions" : ""}`;
    return this.#deriving.run(key, async () => {
      const template = await this.ctx.rendered.template(record.fullDigest);
      const derived = derivePackument(name, template, { versions });
      const [abbreviatedDigest, tarballIndexDigest, indexDigest, manifestsDigest] = await Promise
        .all([
          this.ctx.blobs.putBytes(derived.abbreviated),
          this.#tarballIndexes.put(derived.tarballs),
          derived.versions && this.#versionIndexes.put(derived.versions.index),
          derived.versions && this.ctx.blobs.putBytes(derived.versions.manifests),
        ]);
      const digests: DerivedDigests = {
        abbreviatedDigest,
        tarballIndexDigest,
        versions: indexDigest && manifestsDigest ? { indexDigest, manifestsDigest } : undefined,
      };
      if (isPrivate) {
        if (this.#privateDerived.size >= MAX_PRIVATE_DERIVED) this.#privateDerived.clear();
        this.#privateDerived.set(record.fullDigest, digests);
        return digests;
      }
      const key = [...PACKUMENTS, name];
      const current = (await this.ctx.kv.get<PackumentRecord>(key)).value;
      // Only if the document was not replaced meanwhile; the next request derives again if so.
      if (current?.fullDigest === record.fullDigest) {
        await this.ctx.kv.set(key, { ...current, derived: digests });
      }
      return digests;
    });
  }

  /**
   * Where a packument comes from: a private package's own document (never upstream), or the
   * cached upstream one.
   */
  async #packumentSource(name: string, abbreviated: boolean): Promise<
    {
      outcome: Exclude<MetadataOutcome<unknown>, { kind: "not-found" }>;
      digest: string;
      isPrivate: boolean;
      /** The cache's record of a public packument. */
      cached?: PackumentRecord;
    } | Response
  > {
    if (this.privates.has(name)) {
      const found = await this.#private.documentDigest(name, abbreviated);
      if (found instanceof Response) return found;
      return {
        outcome: privateDocumentOutcome(found.state.pkg),
        digest: found.digest,
        isPrivate: true,
      };
    }
    const outcome = await this.#fetchPackument(name);
    if (outcome.kind === "not-found") {
      return errorResponse(404, `package ${name} not found upstream`);
    }
    const digest = abbreviated
      ? (await this.#derived(name, outcome.record)).abbreviatedDigest
      : outcome.record.fullDigest;
    return { outcome, digest, isPrivate: false, cached: outcome.record };
  }

  async #packument(request: Request, name: string): Promise<Response> {
    const abbreviated = (request.headers.get("accept") ?? "").includes(ABBREVIATED_TYPE);
    const source = await this.#packumentSource(name, abbreviated);
    if (source instanceof Response) return source;
    return serveDocument(this.ctx, request, {
      outcome: source.outcome,
      digest: source.digest,
      baseUrl: baseUrlFor(request, this.ctx.fallbackHost, NPM_PREFIX),
      contentType: abbreviated ? ABBREVIATED_TYPE : "application/json",
      // A private package changes when someone publishes: clients revalidate (a cheap 304).
      cacheControl: source.isPrivate ? "no-cache" : "public, max-age=300",
      vary: "Accept, Accept-Encoding",
      what: name,
    });
  }

  /**
   * `GET /npm/<name>/<version|tag>`: one version's manifest, as `npm view name@1.2.3` asks. Read
   * from the version index derived with the abbreviated document: never a parse of the packument
   * per request (a 1.4 MB one parsed 200 times at once stalled the whole server).
   */
  async #version(request: Request, name: string, versionOrTag: string): Promise<Response> {
    const source = await this.#packumentSource(name, false);
    if (source instanceof Response) return source;
    countMetadataOutcome(this.ctx, source.outcome);
    // A private package's full document has no cache record: its derivation is kept in memory.
    const record = source.cached ?? { name, fullDigest: source.digest };
    const lookUp = async () => {
      const { versions } = await this.#derived(name, record, {
        isPrivate: source.isPrivate,
        versions: true,
      });
      const index = await this.#versionIndexes.get(versions!.indexDigest);
      return manifestOf(this.ctx.blobs, index, versions!.manifestsDigest, versionOrTag);
    };
    let template: string | undefined;
    try {
      template = await lookUp();
    } catch (error) {
      if (!source.isPrivate || !(error instanceof Deno.errors.NotFound)) throw error;
      // No record refers to a private document's derived blobs, so `vm pkg gc` may have removed
      // them: derive them again.
      this.#privateDerived.delete(source.digest);
      template = await lookUp();
    }
    if (template === undefined) {
      return errorResponse(404, `version ${versionOrTag} of ${name} not found`);
    }
    const body = template.replaceAll(
      BASE_URL_PLACEHOLDER,
      baseUrlFor(request, this.ctx.fallbackHost, NPM_PREFIX),
    ) + "\n";
    this.ctx.stats.add("servedBytes", body.length);
    if (!source.isPrivate) this.ctx.stats.add("directBytes", body.length);
    return new Response(body, { headers: { "content-type": "application/json" } });
  }

  #tarball(request: Request, name: string, filename: string): Promise<Response> {
    if (this.privates.has(name)) return this.#private.tarball(request, name, filename);
    return servePackageFile(this.ctx, request, {
      recordKey: [...TARBALLS, name, filename],
      label: `npm:${name}/${filename}`,
      contentType: "application/octet-stream",
      resolve: async () => {
        const outcome = await this.#fetchPackument(name);
        if (outcome.kind === "not-found") return fileNotListed(name, filename);
        const { tarballIndexDigest } = await this.#derived(name, outcome.record);
        const digests = (await this.#tarballIndexes.get(tarballIndexDigest))[filename];
        if (!digests) return fileNotListed(name, filename);
        const expected = expectedDigest(digests);
        if (!expected) {
          return errorResponse(502, `upstream publishes no digest for ${filename}; refusing it`);
        }
        // Always from the configured upstream, at the registry's standard tarball path: old
        // documents name other hosts, and the upstream's own documents never choose the host.
        return { url: `${this.#upstream}/${name}/-/${filename}`, expected };
      },
    });
  }

  async #ping(): Promise<Response> {
    try {
      const response = await this.ctx.upstream.request(`${this.#upstream}/-/ping`, {
        signal: AbortSignal.timeout(PING_TIMEOUT_MS),
      });
      await response.body.cancel();
      return jsonResponse({ ok: true, upstream: response.status });
    } catch (error) {
      // The cache can still serve what it has, so the registry itself answers ping.
      return jsonResponse({ ok: true, upstream: (error as Error).message });
    }
  }

  /**
   * npm waits for the audit answer at the end of every install. It is forwarded byte for byte
   * with a short timeout; failures answer 503 at once (npm then warns and carries on). Never
   * `200 {}`, which npm would read as "no vulnerabilities".
   */
  async #forwardAudit(request: Request, path: string): Promise<Response> {
    const headers = new Headers();
    for (const name of ["content-type", "content-encoding", "accept", "npm-command"]) {
      const value = request.headers.get(name);
      if (value) headers.set(name, value);
    }
    // Anyone may send one: the body is counted as it arrives (chunked too) and cut at the limit.
    let body: Uint8Array<ArrayBuffer>;
    try {
      body = await readLimitedBody(request, MAX_AUDIT_BODY);
    } catch (error) {
      if (!(error instanceof ClientError)) throw error;
      const message = error.status === 413
        ? `audit request over ${MAX_AUDIT_BODY / 1024 / 1024} MB`
        : error.message;
      return errorResponse(error.status, message);
    }
    try {
      const response = await this.ctx.upstream.request(`${this.#upstream}/${path}`, {
        method: "POST",
        headers,
        body,
        signal: AbortSignal.timeout(AUDIT_TIMEOUT_MS),
      });
      const bytes = await this.ctx.upstream.readAll(path, response.body);
      const out = new Headers({
        "content-type": response.headers.get("content-type") ?? "application/json",
      });
      return new Response(bytes as BodyInit, { status: response.status, headers: out });
    } catch (error) {
      return errorResponse(503, `audit unavailable: ${(error as Error).message}`);
    }
  }
}

/**
 * The manifest template of a version or dist-tag, read from its place in the manifests blob;
 * undefined when there is no such version. The index has no prototype (JsonBlobCache), so a
 * `constructor` or `__proto__` from the URL is simply not there.
 */
async function manifestOf(
  blobs: BlobStore,
  index: VersionIndex,
  manifestsDigest: string,
  versionOrTag: string,
): Promise<string | undefined> {
  const at = index.versions[index.distTags[versionOrTag] ?? versionOrTag];
  if (!at) return undefined;
  const [offset, length] = at;
  using file = await Deno.open(blobs.pathOf(manifestsDigest));
  await file.seek(offset, Deno.SeekMode.Start);
  const bytes = new Uint8Array(length);
  for (let read = 0; read < length;) {
    const n = await file.read(bytes.subarray(read));
    if (n === null) throw new Error(`the manifests blob ${manifestsDigest} is cut short`);
    read += n;
  }
  return new TextDecoder().decode(bytes);
}

function expectedDigest(ref: TarballDigests): ExpectedDigest | undefined {
  const fromIntegrity = ref.integrity ? parseIntegrity(ref.integrity) : undefined;
  if (fromIntegrity) return fromIntegrity;
  if (ref.shasum && /^[0-9a-f]{40}$/i.test(ref.shasum)) {
    return { algorithm: "sha1", hex: ref.shasum.toLowerCase() };
  }
  return undefined;
}

/**
 * The package name of a route's `package` parameter with the other parameters, or undefined when
 * any of them is not valid (then the route does not match).
 */
function withName<T extends Record<string, string | undefined>>(
  raw: Params,
  others: T,
): ({ name: string } & { [K in keyof T]: Exclude<T[K], undefined> }) | undefined {
  const name = packageParam(raw.package);
  if (name === undefined || Object.values(others).some((value) => value === undefined)) {
    return undefined;
  }
  return { name, ...others } as { name: string } & { [K in keyof T]: Exclude<T[K], undefined> };
}
