// Turns an upstream Simple API page (PEP 691 JSON, or PEP 503 HTML from indexes that only speak
// HTML) into what the cache stores: the page as JSON and as HTML, with every file URL pointing
// at this server, and a small index from file name to upstream URL and sha256. File URLs are
// relative (`../../files/<project>/<file>`), which PEP 503 and PEP 691 allow, so one stored page
// serves clients whatever host name they used. Hashes, requires-python, yanked, PEP 714
// core-metadata, PEP 700 versions, size and upload-time are kept.
//
// The page is hostile input: its links decide nothing by themselves. Each is resolved against
// the page and goes through the caller's rule (the configured index and files hosts, http(s)
// only); a link the rule refuses (`file:///…`, another host) is dropped from the page served and
// from the file index, so it is never fetched.
import { UpstreamDataError } from "../outcomes.ts";
import { normalizeProjectName } from "./names.ts";

export interface FileRef {
  url: string;
  sha256: string;
  /** The size the page published (PEP 700 `size`): a download never reads more. */
  size?: number;
  /** sha256 of the PEP 658/714 `.metadata` file, when upstream has one. */
  metadataSha256?: string;
}

export interface ProcessedPage {
  json: Uint8Array;
  html: Uint8Array;
  files: Record<string, FileRef>;
  /** The links the rule refused, as the page wrote them (for one log line). */
  dropped: string[];
}

/** Where a file link (resolved, without its fragment) is fetched from; undefined: nowhere. */
export type FileUrlRule = (link: URL) => string | undefined;

type Json = Record<string, unknown>;

interface PageFile extends Json {
  filename: string;
  url: string;
  hashes: Record<string, string>;
}

export function processProjectPage(
  project: string,
  body: Uint8Array,
  contentType: string,
  pageUrl: string,
  fileUrl: FileUrlRule,
): ProcessedPage {
  const text = new TextDecoder().decode(body);
  const page = contentType.includes("json")
    ? parseJsonPage(text, project)
    : parseHtmlPage(text, pageUrl);
  const files: Record<string, FileRef> = {};
  const outFiles: Json[] = [];
  const dropped: string[] = [];
  for (const file of page.files) {
    const sha256 = file.hashes.sha256?.toLowerCase();
    const link = URL.parse(file.url, pageUrl);
    if (link) link.hash = "";
    const upstreamUrl = link ? fileUrl(link) : undefined;
    if (upstreamUrl === undefined) {
      dropped.push(file.url);
      continue;
    }
    if (sha256 && /^[0-9a-f]{64}$/.test(sha256)) {
      const metadata = metadataHash(file["core-metadata"] ?? file["dist-info-metadata"]);
      const ref: FileRef = { url: upstreamUrl, sha256, metadataSha256: metadata };
      if (Number.isSafeInteger(file.size) && (file.size as number) >= 0) {
        ref.size = file.size as number;
      }
      files[file.filename] = ref;
    }
    outFiles.push({ ...file, url: localFileUrl(project, file.filename) });
  }
  const rendered = renderProjectPage({
    meta: page.meta,
    name: page.name ?? project,
    versions: page.versions,
    files: outFiles,
  });
  return { ...rendered, files, dropped };
}

/** Where this server serves a project's file, relative to the project page. */
export function localFileUrl(project: string, filename: string): string {
  return `../../files/${project}/${encodeURIComponent(filename)}`;
}

export interface ProjectPage {
  meta?: Json;
  name: string;
  /** PEP 700; omitted when unknown. */
  versions?: unknown[];
  /** PEP 691 file entries, with `url` already pointing at this server. */
  files: Json[];
}

/** A project page in both formats (PEP 691 JSON and PEP 503 HTML), from its file entries. */
export function renderProjectPage(page: ProjectPage): { json: Uint8Array; html: Uint8Array } {
  const json: Json = {
    meta: { ...(page.meta ?? {}), "api-version": "1.1" },
    name: page.name,
    ...(page.versions ? { versions: page.versions } : {}),
    files: page.files,
  };
  const encoder = new TextEncoder();
  return {
    json: encoder.encode(JSON.stringify(json)),
    html: encoder.encode(renderProjectHtml(page.name, page.files)),
  };
}

/** The root page: project names only, linked relatively (`<name>/`). */
export function processRootPage(body: Uint8Array, contentType: string): {
  json: Uint8Array;
  html: Uint8Array;
} {
  const text = new TextDecoder().decode(body);
  let names: string[];
  let meta: unknown = {};
  if (contentType.includes("json")) {
    const doc = parseJson(text, "the project list");
    meta = doc.meta;
    names = Array.isArray(doc.projects)
      ? doc.projects.map((p: unknown) => String((p as Json)?.name ?? "")).filter(Boolean)
      : [];
  } else {
    names = [...text.matchAll(/<a\s[^>]*>([^<]*)<\/a>/gi)].map((m) => unescapeHtml(m[1]).trim());
  }
  const encoder = new TextEncoder();
  const json = {
    meta: { ...(meta as Json ?? {}), "api-version": "1.1" },
    projects: names.map((name) => ({ name })),
  };
  const links = names.map((name) =>
    `    <a href="${escapeHtml(normalizeProjectName(name))}/">${escapeHtml(name)}</a><br/>`
  );
  const html = [
    "<!DOCTYPE html>",
    "<html>",
    "  <head>",
    '    <meta name="pypi:repository-version" content="1.1">',
    "    <title>Simple index</title>",
    "  </head>",
    "  <body>",
    ...links,
    "  </body>",
    "</html>",
    "",
  ].join("\n");
  return { json: encoder.encode(JSON.stringify(json)), html: encoder.encode(html) };
}

function parseJson(text: string, what: string): Json {
  try {
    const doc = JSON.parse(text);
    if (doc && typeof doc === "object" && !Array.isArray(doc)) return doc;
  } catch {
    // fall through
  }
  throw new UpstreamDataError(`upstream sent invalid JSON for ${what}`);
}

function parseJsonPage(text: string, project: string) {
  const doc = parseJson(text, project);
  const files = Array.isArray(doc.files) ? doc.files : [];
  return {
    meta: doc.meta as Json | undefined,
    name: typeof doc.name === "string" ? doc.name : undefined,
    versions: Array.isArray(doc.versions) ? doc.versions : undefined,
    files: files.filter((f): f is PageFile =>
      !!f && typeof f.filename === "string" && typeof f.url === "string" &&
      typeof f.hashes === "object" && f.hashes !== null
    ),
  };
}

function parseHtmlPage(text: string, pageUrl: string) {
  // An HTML page without a single link or any mark of the Simple API is an error page (a proxy's
  // or a captive portal's), not an empty project: caching it would hide every release.
  if (!/<a\s/i.test(text) && !/repository-version|Links for/i.test(text)) {
    throw new UpstreamDataError("upstream sent an HTML page that is not a Simple API page");
  }
  const files: PageFile[] = [];
  for (const match of text.matchAll(/<a\s([^>]*)>([^<]*)<\/a>/gi)) {
    const attributes: Record<string, string> = {};
    for (const attr of match[1].matchAll(/([\w:-]+)\s*=\s*("([^"]*)"|'([^']*)')/g)) {
      attributes[attr[1].toLowerCase()] = unescapeHtml(attr[3] ?? attr[4] ?? "");
    }
    for (const attr of match[1].matchAll(/(?:^|\s)(data-yanked)(?=\s|$)/g)) {
      attributes[attr[1]] ??= "";
    }
    const href = attributes.href;
    if (!href) continue;
    // An href that does not parse stays as written; processProjectPage then drops it.
    const url = URL.parse(href, pageUrl);
    const [algorithm, digest] = (url?.hash ?? "").slice(1).split("=");
    const file: PageFile = {
      filename: unescapeHtml(match[2]).trim(),
      url: url?.href ?? href,
      hashes: algorithm && digest ? { [algorithm]: digest } : {},
      "requires-python": attributes["data-requires-python"] ?? null,
      yanked: "data-yanked" in attributes ? (attributes["data-yanked"] || true) : false,
    };
    const metadata = attributes["data-core-metadata"] ?? attributes["data-dist-info-metadata"];
    if (metadata !== undefined) file["core-metadata"] = metadataField(metadata);
    files.push(file);
  }
  return { meta: undefined, name: undefined, versions: undefined, files };
}

/** `sha256=<hex>` or `true` (HTML attribute) → the JSON form. */
function metadataField(value: string): boolean | Record<string, string> {
  const [algorithm, digest] = value.split("=");
  return digest ? { [algorithm]: digest } : value !== "false";
}

function metadataHash(value: unknown): string | undefined {
  if (value && typeof value === "object") {
    const sha256 = (value as Record<string, unknown>).sha256;
    if (typeof sha256 === "string" && /^[0-9a-f]{64}$/i.test(sha256)) return sha256.toLowerCase();
  }
  return undefined;
}

function renderProjectHtml(name: string, files: Json[]): string {
  const links = files.map((file) => {
    const hashes = file.hashes as Record<string, string>;
    const fragment = hashes.sha256 ? `#sha256=${hashes.sha256}` : "";
    const attributes = [`href="${escapeHtml(String(file.url))}${fragment}"`];
    if (typeof file["requires-python"] === "string" && file["requires-python"]) {
      attributes.push(`data-requires-python="${escapeHtml(file["requires-python"])}"`);
    }
    if (file.yanked) {
      const reason = typeof file.yanked === "string" ? file.yanked : "";
      attributes.push(`data-yanked="${escapeHtml(reason)}"`);
    }
    const metadata = file["core-metadata"] ?? file["dist-info-metadata"];
    if (metadata) {
      const hash = metadataHash(metadata);
      const value = hash ? `sha256=${hash}` : "true";
      attributes.push(`data-core-metadata="${value}"`, `data-dist-info-metadata="${value}"`);
    }
    return `    <a ${attributes.join(" ")}>${escapeHtml(String(file.filename))}</a><br/>`;
  });
  return [
    "<!DOCTYPE html>",
    "<html>",
    "  <head>",
    '    <meta name="pypi:repository-version" content="1.1">',
    `    <title>Links for ${escapeHtml(name)}</title>`,
    "  </head>",
    "  <body>",
    `    <h1>Links for ${escapeHtml(name)}</h1>`,
    ...links,
    "  </body>",
    "</html>",
    "",
  ].join("\n");
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

function unescapeHtml(text: string): string {
  return text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'").replace(/&#x27;/g, "'").replace(/&amp;/g, "&");
}
