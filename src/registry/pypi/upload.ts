// Publishing to the PyPI side: the legacy upload API (twine, `uv publish`, `vm pkg add`) at
// POST /pypi/ and /pypi/legacy/. Neither redirects: twine aborts on any redirect. An upload is
// checked completely first (upload_form.ts); the one-source rule, the duplicate check and the
// storing of the file then happen inside one atomic change of the project's record, so a refused
// upload stores nothing and two concurrent uploads of one project both land.
import type { PrivatePackages } from "../../store/private_packages.ts";
import type { EcosystemContext } from "../context.ts";
import { packageToPublish } from "../private_policy.ts";
import { ClientError } from "../request_body.ts";
import {
  parseUpload,
  type PypiUpload,
  type PypiVersionMeta,
  readUploadForm,
} from "./upload_form.ts";

/** The paths (after `/pypi/`) that take uploads: `/pypi/` as devpi and pypiserver do, and PyPI's. */
export const UPLOAD_PATHS: readonly string[] = ["", "legacy", "legacy/"];

export class PypiUploads {
  constructor(
    private readonly ctx: EcosystemContext,
    private readonly privates: PrivatePackages,
    /** Whether the public index has the project (the cached project lookup). */
    private readonly existsUpstream: (project: string) => Promise<boolean>,
  ) {}

  /** One POSTed upload. */
  async handle(request: Request): Promise<Response> {
    const refusal = this.ctx.auth.refusal(request);
    if (refusal) {
      await request.body?.cancel().catch(() => {});
      return refusal;
    }
    const upload = await parseUpload(await readUploadForm(request));
    await this.#publish(upload, request);
    this.ctx.log.info(`pypi: published ${upload.filename}`);
    return new Response(`OK: ${upload.filename} is published as ${upload.project}\n`, {
      headers: { "content-type": "text/plain; charset=utf-8" },
    });
  }

  async #publish(upload: PypiUpload, request: Request): Promise<void> {
    const uploadedAt = new Date().toISOString();
    await this.privates.change(upload.project, async (current) => {
      const state = await packageToPublish(current, upload.project, {
        type: "pip",
        existsUpstream: () => this.existsUpstream(upload.project),
        request,
      });
      for (const version of state.versions.values()) {
        if (version.files.some((file) => file.filename === upload.filename)) {
          // The words twine's --skip-existing looks for (with 409).
          throw new ClientError(409, `${upload.filename} already exists in ${upload.project}`);
        }
      }
      const existing = state.versions.get(upload.version);
      const meta: PypiVersionMeta = existing
        ? await this.privates.meta<PypiVersionMeta>(existing)
        : { name: upload.displayName, version: upload.version, files: {} };
      meta.files[upload.filename] = { ...upload.meta, uploadedAt };
      // Stored only now that the upload is accepted; both writes are content-addressed, so a
      // retried change (another upload of this project won the race) just finds them there.
      const file = await this.privates.storeFile(upload.filename, upload.content);
      const metaDigest = await this.privates.storeMeta(meta);
      state.versions.set(upload.version, {
        ...existing,
        version: upload.version,
        publishedAt: existing?.publishedAt ?? Date.now(),
        files: [...(existing?.files ?? []), file],
        metaDigest,
      });
      return state;
    });
  }
}
