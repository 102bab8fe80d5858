// The npm protocol under /npm/: packuments (full and abbreviated), tarballs, ping and audit.
// Storage, upstream fetching and freshness are the shared ones; this file only speaks npm.
import type { EcosystemContext } from "../context.ts";
import { baseUrlFor, errorResponse, jsonResponse } from "../http.ts";
import { type ExpectedDigest, parseIntegrity } from "../../store/hashing.ts";
import { JsonBlobCache } from "../../store/json_blob_cache.ts";
import type { MetadataOutcome } from "../../upstream/metadata_cache.ts";
import { countMetadataOutcome, failureResponse } from "../outcomes.ts";
import { serveDocument } from "../documents.ts";
import { fileNotListed, servePackageFile } from "../package_files.ts";
import {
  isValidPackageName,
  type NpmRoute,
  parseDistTagPath,
  parseNpmPath,
  upstreamNamePath,
} from "./names.ts";
import { NpmPrivateRoutes } from "./private_routes.ts";
import { ClientError, readLimitedBody } from "../request_body.ts";
import { privateDocumentOutcome } from "../documents.ts";
import { PrivatePackages } from "../../store/private_packages.ts";
import type { EcosystemRegistry } from "../ecosystem.ts";
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

const ABBREVIATED_TYPE = "application/vnd.npm.install-v1+json";
const AUDIT_PATHS = new Set([
  "-/npm/v1/security/advisories/bulk",
  "-/npm/v1/security/audits/quick",
]);
const AUDIT_TIMEOUT_MS = 15_000;
const PING_TIMEOUT_MS = 5_000;
/** An audit body lists the names and versions of one tree: a few hundred KB, gzipped. */
const MAX_AUDIT_BODY = 16 * 1024 * 1024;
/** Derivations of private documents kept in memory (their record is not the cache's). */
const MAX_PRIVATE_DERIVED = 256;

export class NpmRegistry implements EcosystemRegistry {
  static readonly prefix = "/npm";
  readonly privates: PrivatePackages;
  readonly cachedFilesPrefix = ["npm", "tarball"];
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

  /** `path` is everything after `/npm/`. */
  async handle(request: Request, path: string): Promise<Response> {
    if (path === "-/ping") return await this.#ping();
    if (AUDIT_PATHS.has(path) && request.method === "POST") {
      return await this.#forwardAudit(request, path);
    }
    if (path === "-/whoami") return this.#private.whoami(request);
    if (path.startsWith("-/package/")) {
      const distTagRoute = parseDistTagPath(path.slice("-/package/".length));
      if (!distTagRoute) return errorResponse(400, `not a valid dist-tags path: /npm/${path}`);
      return await this.#private.distTags(request, distTagRoute);
    }
    if (path.startsWith("-/")) {
      return errorResponse(404, `vm pkg does not serve /npm/${path}`);
    }
    const route = parseNpmPath(path);
    if (!route) return errorResponse(400, `not a valid npm package path: /npm/${path}`);
    if (request.method !== "GET" && request.method !== "HEAD") {
      const written = await this.#private.write(request, route);
      if (written) return written;
      return errorResponse(405, `${request.method} is not supported on /npm/${path}`, {
        allow: "GET, HEAD, PUT, DELETE",
      });
    }
    this.ctx.stats.add("requests");
    try {
      return await this.#serve(request, route);
    } catch (error) {
      return this.#failure(route, error);
    }
  }

  /** Resolves when no download of this ecosystem is running (graceful shutdown). */
  idle(): Promise<void> {
    return this.ctx.idle();
  }

  /** Packages whose metadata document is cached. */
  documentCount(): Promise<number> {
    return this.ctx.countRecords(["npm", "packument"]);
  }

  #serve(request: Request, route: NpmRoute): Promise<Response> {
    switch (route.kind) {
      case "packument":
        return this.#packument(request, route.name);
      case "version":
        return this.#version(request, route.name, route.version);
      case "tarball":
        return this.#tarball(request, route.name, route.filename);
      case "revision":
      case "tarball-revision":
        return Promise.resolve(
          errorResponse(405, "revisions are only written", { allow: "PUT, DELETE" }),
        );
    }
  }

  #fetchPackument(name: string): Promise<MetadataOutcome<PackumentRecord>> {
    return this.ctx.metadata.get<PackumentRecord>({
      key: ["npm", "packument", name],
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
      const key = ["npm", "packument", name];
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
      baseUrl: baseUrlFor(request, this.ctx.fallbackHost, NpmRegistry.prefix),
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
      baseUrlFor(request, this.ctx.fallbackHost, NpmRegistry.prefix),
    ) + "\n";
    this.ctx.stats.add("servedBytes", body.length);
    if (!source.isPrivate) this.ctx.stats.add("directBytes", body.length);
    return new Response(body, { headers: { "content-type": "application/json" } });
  }

  #tarball(request: Request, name: string, filename: string): Promise<Response> {
    if (this.privates.has(name)) return this.#private.tarball(request, name, filename);
    return servePackageFile(this.ctx, request, {
      recordKey: ["npm", "tarball", name, filename],
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

  #failure(route: NpmRoute, error: unknown): Response {
    const what = route.kind === "tarball" ? `${route.name}/${route.filename}` : route.name;
    return failureResponse(this.ctx, what, error);
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
