// The project page of a private project, rendered from its record at every change (never at
// request time): the same PEP 691 JSON and PEP 503 HTML as cached pages, with file links that
// point at this server's own files route.
import type { PackageState, PrivateVersion } from "../../store/private_packages.ts";
import { localFileUrl, renderProjectPage } from "./simple_page.ts";
import type { PypiVersionMeta } from "./upload_form.ts";

export async function renderPrivateProject(
  state: PackageState,
  metaOf: (version: PrivateVersion) => Promise<PypiVersionMeta>,
): Promise<{ json: Uint8Array; html: Uint8Array }> {
  const versions: string[] = [];
  const files: Record<string, unknown>[] = [];
  for (const version of state.pkg.versions) {
    const record = state.versions.get(version);
    if (!record) continue;
    const meta = await metaOf(record);
    versions.push(version);
    for (const file of record.files) {
      const fileMeta = meta.files[file.filename];
      files.push({
        filename: file.filename,
        url: localFileUrl(state.pkg.name, file.filename),
        hashes: { sha256: file.sha256 },
        "requires-python": fileMeta?.requiresPython ?? null,
        size: file.size,
        "upload-time": fileMeta?.uploadedAt ?? new Date(record.publishedAt).toISOString(),
        // A yanked version yanks all its files (PEP 592 yanks files; PyPI yanks releases).
        yanked: record.yanked ?? false,
      });
    }
  }
  return renderProjectPage({ name: state.pkg.name, versions, files });
}
