// The PyPI Simple Repository API under /pypi/: the project list, project pages (PEP 503 HTML and
// PEP 691 JSON by content negotiation), distribution files and their PEP 658 `.metadata` files,
// and uploads (upload.ts). A private project (one published here) is served from its record
// only: its upstream page is never fetched or merged, and its files come only from the store.
// Storage, upstream fetching and freshness are the shared ones; this file only speaks PyPI.
import { JsonBlobCache } from "../../store/json_blob_cache.ts";
import type { MetadataOutcome } from "../../upstream/metadata_cache.ts";
import type { EcosystemContext } from "../context.ts";
import { errorResponse } from "../http.ts";
import { type DocumentResponse, privateDocumentOutcome, serveDocument } from "../documents.ts";
import { fileNotListed, servePackageFile, servePrivateFile } from "../package_files.ts";
import {
  negotiateSimpleFormat,
  SIMPLE_HTML,
  SIMPLE_JSON,
  type SimpleFormat,
  TEXT_HTML,
} from "./content_type.ts";
import { fileParam, isValidProjectName, normalizeProjectName, projectParam } from "./names.ts";
import { type PackageState, PrivatePackages } from "../../store/private_packages.ts";
import type { EcosystemService } from "../ecosystem.ts";
import { type Route, route } from "../route_table.ts";
import { type FileRef, processProjectPage, processRootPage } from "./simple_page.ts";
import { renderPrivateProject } from "./private_pages.ts";
import { shortUrl } from "../../upstream/origins.ts";
import type { PypiVersionMeta } from "./upload_form.ts";
import { PypiUploads, UPLOAD_PATHS } from "./upload.ts";

export interface PypiOptions {
  /** The Simple API root, e.g. https://pypi.org/simple */
  indexUpstream: string;
  /** Where distribution files come from; replaces the origin of the index's file URLs. */
  filesUpstream: string;
}

export const DEFAULT_PYPI_INDEX = "https://pypi.org/simple";
export const DEFAULT_PYPI_FILES = "https://files.pythonhosted.org";

/** Where PyPI's routes live. */
export const PYPI_PREFIX = "/pypi";
/** KV prefix of cached project pages: `[...PROJECT_PAGES, project]` → ProjectRecord. */
export const PROJECT_PAGES = ["pypi", "project"] as const;
/** KV prefix of cached files: `[...PYPI_FILES, project, filename]` → StoredFile. */
export const PYPI_FILES = ["pypi", "file"] as const;

interface PageRecord {
  jsonDigest: string;
  htmlDigest: string;
}

interface ProjectRecord extends PageRecord {
  filesDigest: string;
  fileCount: number;
}

export class PypiRegistry implements EcosystemService {
  readonly privates: PrivatePackages;
  readonly routes: readonly Route[];
  readonly #index: string;
  readonly #files: string;
  readonly #fileIndexes: JsonBlobCache<Record<string, FileRef>>;
  readonly #uploads: PypiUploads;

  constructor(private readonly ctx: EcosystemContext, options: PypiOptions) {
    this.#index = options.indexUpstream.replace(/\/+$/, "");
    this.#files = options.filesUpstream.replace(/\/+$/, "");
    this.#fileIndexes = new JsonBlobCache(ctx.blobs);
    this.privates = new PrivatePackages(ctx.kv, ctx.blobs, "pypi", (state) => this.#render(state));
    this.#uploads = new PypiUploads(
      ctx,
      this.privates,
      async (project) => (await this.#fetchProject(project)).kind !== "not-found",
    );
    this.routes = this.#routes();
  }

  init(): Promise<void> {
    return this.privates.init();
  }

  canonicalName(name: string): string | undefined {
    return isValidProjectName(name) ? normalizeProjectName(name) : undefined;
  }

  /** The project page of a private project, as JSON and HTML blobs. */
  async #render(state: PackageState): Promise<Record<string, string>> {
    const page = await renderPrivateProject(
      state,
      (version) => this.privates.meta<PypiVersionMeta>(version),
    );
    // Durable: the record points at these, and they are rendered only when the project changes.
    const [json, html] = await Promise.all([
      this.ctx.blobs.putBytes(page.json, { durable: true }),
      this.ctx.blobs.putBytes(page.html, { durable: true }),
    ]);
    return { json, html };
  }

  /** PyPI's routes: uploads, the Simple API (pages and their redirects) and files. */
  #routes(): Route[] {
    const P = PYPI_PREFIX;
    const redirect = (location: string) =>
      new Response(null, { status: 301, headers: { location } });
    return [
      ...UPLOAD_PATHS.map((path) =>
        route({
          method: "POST",
          pattern: `${P}/${path}`,
          description: "twine / uv publish upload of a private project (token required)",
          subject: () => "the upload",
          handle: (request) => this.#uploads.handle(request),
        })
      ),
      route({
        method: "GET",
        pattern: P,
        description: "redirect to the Simple API",
        handle: () => redirect(`${P}/simple/`),
      }),
      route({
        method: "GET",
        pattern: `${P}/simple`,
        description: "redirect to the Simple API",
        handle: () => redirect(`${P}/simple/`),
      }),
      route({
        method: "GET",
        pattern: `${P}/simple/`,
        description: "the project list (PEP 503 HTML or PEP 691 JSON by Accept)",
        subject: () => "the project list",
        handle: (request) => this.#page(request, "the project list", this.#fetchRoot()),
      }),
      route({
        method: "GET",
        pattern: `${P}/simple/:project/`,
        description: "a project page; a name not in PEP 503 form redirects to it",
        params: (raw) => projectParam(raw.project),
        subject: ({ name }) => name,
        handle: (request, { name, normalized }) => {
          if (name !== normalized) return redirect(`${P}/simple/${normalized}/`);
          if (this.privates.has(name)) return this.#privatePage(request, name);
          return this.#page(request, name, this.#fetchProject(name));
        },
      }),
      route({
        method: "GET",
        pattern: `${P}/simple/:project`,
        description: "redirect to the project page (trailing slash, PEP 503 name)",
        params: (raw) => projectParam(raw.project),
        handle: (_request, { normalized }) => redirect(`${P}/simple/${normalized}/`),
      }),
      route({
        method: "GET",
        pattern: `${P}/files/:project/:file`,
        description: "a distribution file or its PEP 658 .metadata, verified by sha256",
        params: (raw) => fileParam(raw.project, raw.file),
        subject: ({ project, filename }) => `${project}/${filename}`,
        handle: (request, { project, filename, metadata }) => {
          if (!this.privates.has(project)) {
            return this.#file(request, project, filename, metadata);
          }
          // Private files have no PEP 658 metadata file (pages do not advertise one).
          if (metadata) return fileNotListed(project, `${filename}.metadata`);
          return this.#privateFile(request, project, filename);
        },
      }),
    ];
  }

  /** Resolves when no download of this ecosystem is running (graceful shutdown). */
  idle(): Promise<void> {
    return this.ctx.idle();
  }

  #fetchRoot(): Promise<MetadataOutcome<PageRecord>> {
    return this.ctx.metadata.get<PageRecord>({
      key: ["pypi", "root"],
      url: `${this.#index}/`,
      headers: { accept: `${SIMPLE_JSON}, ${TEXT_HTML};q=0.1` },
      ingest: async (body, headers) => {
        const page = processRootPage(body, headers.get("content-type") ?? "");
        const [jsonDigest, htmlDigest] = await Promise.all([
          this.ctx.blobs.putBytes(page.json),
          this.ctx.blobs.putBytes(page.html),
        ]);
        return { jsonDigest, htmlDigest };
      },
    });
  }

  #fetchProject(project: string): Promise<MetadataOutcome<ProjectRecord>> {
    const url = `${this.#index}/${project}/`;
    return this.ctx.metadata.get<ProjectRecord>({
      key: [...PROJECT_PAGES, project],
      url,
      headers: { accept: `${SIMPLE_JSON}, ${SIMPLE_HTML};q=0.2, ${TEXT_HTML};q=0.1` },
      ingest: async (body, headers) => {
        const page = processProjectPage(
          project,
          body,
          headers.get("content-type") ?? "",
          url,
          (link) => this.#fileUrl(link),
        );
        if (page.dropped.length > 0) {
          // Once per page as it changes upstream (an unchanged page is not processed again).
          const shown = page.dropped.slice(0, 3).map(shortUrl).join(", ");
          this.ctx.log.warn(
            `pypi: ${project}: ${page.dropped.length} file link(s) outside the configured ` +
              `upstreams (${this.ctx.upstream.origins.list().join(", ")}) dropped from the page ` +
              `and never fetched: ${shown}${page.dropped.length > 3 ? ", ..." : ""}`,
          );
        }
        const [jsonDigest, htmlDigest, filesDigest] = await Promise.all([
          this.ctx.blobs.putBytes(page.json),
          this.ctx.blobs.putBytes(page.html),
          this.#fileIndexes.put(page.files),
        ]);
        return { jsonDigest, htmlDigest, filesDigest, fileCount: Object.keys(page.files).length };
      },
    });
  }

  /**
   * Where a file link of an upstream page is fetched from, or undefined when it is not fetched at
   * all: only http(s) links on the configured index and files hosts are kept (a page linking
   * `file:///…/token` or another service must not choose what this server reads). Links to
   * files.pythonhosted.org move onto the configured files host (a mirror of it).
   */
  #fileUrl(link: URL): string | undefined {
    let url = link.href;
    if (this.#files !== DEFAULT_PYPI_FILES && url.startsWith(`${DEFAULT_PYPI_FILES}/`)) {
      url = this.#files + url.slice(DEFAULT_PYPI_FILES.length);
    }
    return this.ctx.upstream.origins.allows(url) ? url : undefined;
  }

  async #page(
    request: Request,
    what: string,
    pending: Promise<MetadataOutcome<PageRecord>>,
  ): Promise<Response> {
    const format = negotiateSimpleFormat(request.headers.get("accept"));
    if (!format) return notAcceptable();
    const outcome = await pending;
    if (outcome.kind === "not-found") return errorResponse(404, `${what} not found upstream`);
    return serveDocument(this.ctx, request, {
      ...pageDocument(format, outcome.record, what),
      outcome,
      cacheControl: "max-age=600, public",
    });
  }

  /** A private project's page, as rendered at its last change. */
  async #privatePage(request: Request, project: string): Promise<Response> {
    const format = negotiateSimpleFormat(request.headers.get("accept"));
    if (!format) return notAcceptable();
    const pkg = await this.privates.get(project);
    // No versions left: the name stays private (never falls back to upstream), and has no page.
    if (!pkg?.documents.json || !pkg.documents.html) {
      return errorResponse(404, `${project} is a private project here with no versions`);
    }
    const record = { jsonDigest: pkg.documents.json, htmlDigest: pkg.documents.html };
    return serveDocument(this.ctx, request, {
      ...pageDocument(format, record, project),
      outcome: privateDocumentOutcome(pkg),
      // A new upload must show at once; the ETag keeps revalidation cheap.
      cacheControl: "no-cache",
    });
  }

  /** A private project's file: from the store or not at all. */
  async #privateFile(request: Request, project: string, filename: string): Promise<Response> {
    const file = await this.privates.file(project, filename);
    if (!file) return fileNotListed(project, filename);
    return servePrivateFile(this.ctx, request, file, contentTypeOf(filename));
  }

  #file(
    request: Request,
    project: string,
    filename: string,
    metadata: boolean,
  ): Promise<Response> {
    const served = metadata ? `${filename}.metadata` : filename;
    return servePackageFile(this.ctx, request, {
      recordKey: [...PYPI_FILES, project, served],
      label: `pypi:${project}/${served}`,
      contentType: metadata ? "text/plain; charset=utf-8" : contentTypeOf(filename),
      resolve: async () => {
        const outcome = await this.#fetchProject(project);
        if (outcome.kind === "not-found") return fileNotListed(project, served);
        const ref = (await this.#fileIndexes.get(outcome.record.filesDigest))[filename];
        if (!ref) return fileNotListed(project, served);
        if (!metadata) {
          return {
            url: ref.url,
            expected: { algorithm: "sha256", hex: ref.sha256 },
            size: ref.size,
          };
        }
        if (!ref.metadataSha256) return fileNotListed(project, served);
        return {
          url: `${ref.url}.metadata`,
          expected: { algorithm: "sha256", hex: ref.metadataSha256 },
        };
      },
    });
  }
}

function notAcceptable(): Response {
  return errorResponse(406, `acceptable types: ${SIMPLE_JSON}, ${SIMPLE_HTML}, ${TEXT_HTML}`);
}

/** What a project page response is, whichever the source (cache or private record). */
function pageDocument(
  format: SimpleFormat,
  record: PageRecord,
  what: string,
): Omit<DocumentResponse, "outcome" | "cacheControl"> {
  return {
    digest: format.json ? record.jsonDigest : record.htmlDigest,
    // File links are relative, so one rendering serves every host name.
    baseUrl: "",
    contentType: format.json ? format.type : `${format.type}; charset=utf-8`,
    vary: "Accept, Accept-Encoding",
    what,
  };
}

function contentTypeOf(filename: string): string {
  if (filename.endsWith(".whl") || filename.endsWith(".zip")) return "application/zip";
  return "application/octet-stream";
}
