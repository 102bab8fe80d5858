// The npm routes of private packages: the write protocol (publish, deprecate, unpublish,
// dist-tags, whoami) and the documents of private packages. Reads of a private name never reach
// upstream; writes need the token.
import type { EcosystemContext } from "../context.ts";
import { errorResponse, jsonResponse } from "../http.ts";
import { servePrivateFile } from "../package_files.ts";
import { packageToPublish } from "../private_policy.ts";
import { ClientError, parseJsonBody, readLimitedBody } from "../request_body.ts";
import type { PackageState, PrivatePackages } from "../../store/private_packages.ts";
import { derivePackument } from "./packument.ts";
import type { DistTagRoute } from "./names.ts";
import {
  applyDocumentUpdate,
  applyPublish,
  fixLatest,
  isSemver,
  parseDistTag,
  parsePublish,
  renderPrivatePackument,
  revisionOf,
} from "./publish.ts";

type Json = Record<string, unknown>;

/** The document kinds kept in PrivatePackage.documents. */
export const FULL_DOCUMENT = "full";
export const ABBREVIATED_DOCUMENT = "abbreviated";

export class NpmPrivateRoutes {
  constructor(
    private readonly ctx: EcosystemContext,
    private readonly privates: PrivatePackages,
    /** Whether the public registry has a name (for the one-source rule). */
    private readonly existsUpstream: (name: string) => Promise<boolean>,
  ) {}

  /** Renders the full and abbreviated packuments of a private package into blobs. */
  async render(state: PackageState): Promise<Record<string, string>> {
    const manifests = new Map<string, Json>();
    await Promise.all(
      [...state.versions.values()].map(async (record) => {
        manifests.set(record.version, await this.privates.meta<Json>(record));
      }),
    );
    const full = renderPrivatePackument(state, manifests);
    const { abbreviated } = derivePackument(state.pkg.name, full);
    const [fullDigest, abbreviatedDigest] = await Promise.all([
      this.ctx.blobs.putBytes(new TextEncoder().encode(full), { durable: true }),
      this.ctx.blobs.putBytes(abbreviated, { durable: true }),
    ]);
    return { [FULL_DOCUMENT]: fullDigest, [ABBREVIATED_DOCUMENT]: abbreviatedDigest };
  }

  /**
   * `PUT /<name>` (publish, or a document update such as deprecate) and `PUT /<name>/-rev/<rev>`
   * (the document written back by unpublish of a version). Token required.
   */
  async put(request: Request, name: string, rev: string | undefined): Promise<Response> {
    return this.ctx.auth.refusal(request) ?? await this.#put(request, name, rev);
  }

  /** `DELETE /<name>/-rev/<rev>`: `npm unpublish <name>`. Token required. */
  async unpublishAll(request: Request, name: string, rev: string): Promise<Response> {
    return this.ctx.auth.refusal(request) ?? await this.#unpublishAll(name, rev);
  }

  /** `DELETE /<name>/-/<file>/-rev/<rev>`, the end of `npm unpublish name@v`. Token required. */
  async deleteTarball(request: Request, name: string, filename: string): Promise<Response> {
    return this.ctx.auth.refusal(request) ?? await this.#deleteTarball(name, filename);
  }

  /** `/-/package/<name>/dist-tags[/<tag>]`: GET lists; PUT/POST set a tag, DELETE removes one. */
  async distTags(request: Request, route: DistTagRoute): Promise<Response> {
    const state = await this.privates.state(route.name);
    if (request.method === "GET") {
      if (!state) return errorResponse(404, `${route.name} is not a private package here`);
      return jsonResponse(state.pkg.distTags);
    }
    const refusal = this.ctx.auth.refusal(request);
    if (refusal) return refusal;
    if (!state) {
      return errorResponse(
        404,
        `${route.name} is not a private package here; its tags are upstream's`,
      );
    }
    if (!route.tag) return errorResponse(405, `${request.method} needs a tag name`);
    const tag = parseDistTag(route.tag);
    if (request.method === "DELETE") {
      if (tag === "latest") throw new ClientError(400, "the latest tag cannot be removed");
      const changed = await this.privates.change(route.name, (current) => {
        if (!current || !Object.hasOwn(current.pkg.distTags, tag)) {
          throw new ClientError(404, `${route.name} has no dist-tag ${tag}`);
        }
        delete current.pkg.distTags[tag];
        return current;
      });
      return jsonResponse({ ok: true, "dist-tags": changed!.pkg.distTags });
    }
    // PUT or POST: the routes take no other method.
    const version = parseJsonBody(await readLimitedBody(request, 1024), "the dist-tag body");
    if (typeof version !== "string" || !isSemver(version)) {
      throw new ClientError(400, "the body must be a JSON string naming a version");
    }
    const changed = await this.privates.change(route.name, (current) => {
      if (!current?.versions.has(version)) {
        throw new ClientError(404, `${route.name}@${version} does not exist here`);
      }
      current.pkg.distTags[tag] = version;
      return current;
    });
    return jsonResponse({ ok: true, "dist-tags": changed!.pkg.distTags });
  }

  whoami(request: Request): Response {
    return this.ctx.auth.refusal(request) ?? jsonResponse({ username: "vm" });
  }

  /** The stored document digest of a private package, or the 404 when it has no versions. */
  async documentDigest(name: string, abbreviated: boolean): Promise<
    { state: PackageState; digest: string } | Response
  > {
    const state = await this.privates.state(name);
    const digest = state?.pkg.documents[abbreviated ? ABBREVIATED_DOCUMENT : FULL_DOCUMENT];
    if (!state || !digest) {
      return errorResponse(
        404,
        `${name} is private here and has no published versions (upstream's are not served)`,
      );
    }
    return { state, digest };
  }

  /** A private tarball: from the store, never upstream. */
  async tarball(request: Request, name: string, filename: string): Promise<Response> {
    const file = await this.privates.file(name, filename);
    if (!file) return errorResponse(404, `${filename} is not a published file of ${name}`);
    return servePrivateFile(this.ctx, request, file, "application/octet-stream");
  }

  async #put(request: Request, name: string, rev: string | undefined): Promise<Response> {
    const doc = parseJsonBody(await readLimitedBody(request), "the package document");
    if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
      throw new ClientError(400, "the package document must be a JSON object");
    }
    const hasAttachments = Object.keys((doc as Json)._attachments ?? {}).length > 0;
    if (!hasAttachments) {
      const state = await this.privates.change(name, (current) => {
        if (!current) throw notPrivate(name);
        checkRevision(current, rev);
        return applyDocumentUpdate(current, doc);
      });
      return jsonResponse({ ok: true, id: name, rev: revisionOf(state!) });
    }
    const publish = parsePublish(name, doc);
    // Refuse before storing anything (the same checks run again inside the atomic change).
    const policy = {
      type: "npm",
      existsUpstream: () => this.existsUpstream(name),
      request,
    };
    applyPublish(
      await packageToPublish(await this.privates.state(name), name, policy),
      publish,
      [],
    );
    // The files go to the store before the record: a crash in between leaves an unreferenced
    // blob, never a version whose tarball is missing.
    const stored = await Promise.all(publish.versions.map(async (version) => ({
      version,
      file: await this.privates.storeFile(version.filename, version.tarball),
      metaDigest: await this.privates.storeMeta(version.manifest),
    })));
    const state = await this.privates.change(name, async (current) => {
      return applyPublish(await packageToPublish(current, name, policy), publish, stored);
    });
    this.ctx.log.info(
      `published ${publish.versions.map((v) => `${name}@${v.version}`).join(", ")}`,
    );
    return jsonResponse({ ok: true, id: name, rev: revisionOf(state!) }, 201);
  }

  /** `npm unpublish <name>`: every version goes; the name stays private (not re-opened). */
  async #unpublishAll(name: string, rev: string): Promise<Response> {
    await this.privates.change(name, (current) => {
      if (!current) throw notPrivate(name);
      checkRevision(current, rev);
      current.versions.clear();
      current.pkg.distTags = {};
      return current;
    });
    this.ctx.log.info(`unpublished every version of ${name} (the name stays private)`);
    return jsonResponse({ ok: true });
  }

  /** The tarball DELETE of `npm unpublish name@v`: the version went with the document PUT. */
  async #deleteTarball(name: string, filename: string): Promise<Response> {
    await this.privates.change(name, (current) => {
      if (!current) throw notPrivate(name);
      for (const [version, record] of current.versions) {
        if (record.files.some((file) => file.filename === filename)) {
          current.versions.delete(version);
        }
      }
      fixLatest(current);
      return current;
    });
    return jsonResponse({ ok: true });
  }
}

function notPrivate(name: string): ClientError {
  return new ClientError(
    404,
    `${name} is not a private package here (publish a version with its tarball first; ` +
      "upstream packages cannot be changed)",
  );
}

/** npm sends back the `_rev` it read; a different one means someone changed it meanwhile. */
function checkRevision(state: PackageState, rev: string | undefined): void {
  if (rev !== undefined && rev !== revisionOf(state)) {
    throw new ClientError(
      409,
      `${state.pkg.name} changed since it was read (revision ${rev}); try again`,
    );
  }
}
