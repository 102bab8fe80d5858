// The dashboard's pages as functions of plain data: no I/O here, so each page is unit-tested (and
// timed) without a server. Every value from a package, a client or a request goes through `html`.
import type { Ecosystem } from "../ecosystem.ts";
import type { ClientCounters } from "../client_stats.ts";
import type { PrivatePackageSummary } from "../private_admin.ts";
import type { ReportedStatus } from "../status.ts";
import type { HourTraffic } from "../traffic_history.ts";
import { trafficChart } from "./chart.ts";
import type { CatalogPage, CatalogQuery, PackageKind, StoredFileSummary } from "./catalog.ts";
import { formatBytes, formatDuration, formatRatio, hitRatio } from "./format.ts";
import { type Html, html } from "./html.ts";
import { layout } from "./layout.ts";
import { exportLines, installSnippets, userFiles } from "./snippets.ts";
import {
  claimForm,
  removePackageForm,
  removeVersionForm,
  signOutForm,
  tokenForm,
} from "./write_forms.ts";

export interface OverviewData {
  status: ReportedStatus;
  /** Traffic per hour over the last days (traffic_history.ts); absent: no chart. */
  hours?: readonly HourTraffic[];
  clients: Record<string, ClientCounters>;
  /** Render times and other figures are computed against this instant. */
  now: Date;
}

const num = (n: number) => n.toLocaleString("en-US");

function card(label: string, value: string, extra: Html | string = ""): Html {
  return html`
    <div
      class="card"><div class="label">${label}</div><div class="value">${value}</div>${extra}</div>
  `;
}

export function overviewPage({ status, clients, now, hours }: OverviewData): Html {
  const startedAt = new Date(now.getTime() - status.uptimeSeconds * 1000);
  const limit = status.cache.limit;
  const usage = limit
    ? html`<progress max="${limit}" value="${Math.min(status.cache.bytes, limit)}">${
      formatRatio(status.cache.bytes / limit)
    }</progress>`
    : html`<div class="muted">no limit</div>`;
  const totals = status.totals;
  const ecosystemRows = Object.entries(status.ecosystems).map(([id, e]) =>
    html`
      <tr>
        <td><a href="/ui/packages?type=${id}">${id}</a></td>
        <td class="num">${num(e.packages)}</td>
        <td class="num">${num(e.privatePackages)}</td>
        <td class="num">${num(e.documents)}</td>
        <td class="num">${formatBytes(e.cachedBytes)}</td>
        <td class="num">${num(e.requests)}</td>
        <td class="num">${formatRatio(hitRatio(e))}</td>
        <td class="num">${formatBytes(e.servedBytes)}</td>
        <td class="num">${formatBytes(e.upstreamBytes)}</td>
        <td class="num">${formatBytes(e.directBytes)}</td>
        <td class="num">${formatRatio(
          e.directBytes > 0 ? Math.max(0, 1 - e.upstreamBytes / e.directBytes) : null,
        )}</td>
      </tr>
    `
  );
  const clientRows = Object.entries(clients)
    .sort(([, a], [, b]) => b.lastSeen.localeCompare(a.lastSeen))
    .map(([address, c]) =>
      html`
        <tr>
          <td>${address}</td>
          <td>${c.lastSeen}</td>
          <td class="num">${num(c.requests)}</td>
          <td class="num">${formatRatio(hitRatio(c))}</td>
          <td class="num">${formatBytes(c.servedBytes)}</td>
          <td class="num">${formatBytes(c.upstreamBytes)}</td>
          <td class="num">${typeof c.meanLatencyMs === "number"
            ? `${c.meanLatencyMs} ms`
            : "-"}</td>
        </tr>
      `
    );
  const upstreams = status.upstreams
    ? html`
      <h2>Upstreams</h2>
      <table>
        <thead>
          <tr>
            <th>name</th>
            <th>URL</th>
            <th>last success</th>
            <th>last error</th>
          </tr>
        </thead>
        <tbody>${Object.entries(status.upstreams).map(([name, url]) => {
          const health = status.upstreamHealth?.[name];
          return html`
            <tr>
              <td>${name}</td>
              <td>${url}</td>
              <td>${health?.lastSuccessAt ?? "-"}</td>
              <td>${health?.lastErrorAt ? `${health.lastErrorAt}: ${health.lastError}` : "-"}</td>
            </tr>
          `;
        })}</tbody>
      </table>
    `
    : "";
  return layout(
    "Overview",
    "overview",
    html`
      <h1>Overview</h1>
      <div class="cards">
      ${card(
        "Running since",
        startedAt.toISOString().replace(/\.\d+Z$/, "Z"),
        html`<div class="muted">${formatDuration(status.uptimeSeconds)}</div>`,
      )}
      ${card(
        "Cache",
        `${formatBytes(status.cache.bytes)}${limit ? ` of ${formatBytes(limit)}` : ""}`,
        usage,
      )}
      ${card(
        "Hit ratio",
        formatRatio(hitRatio(totals)),
        html`<div class="muted">${num(totals.cacheHits)} hits, ${
          num(totals.cacheMisses)
        } misses</div>`,
      )}
      ${card(
        "Served",
        formatBytes(totals.servedBytes),
        html`<div class="muted">${num(totals.requests)} requests</div>`,
      )}
      ${card(
        "Fetched upstream",
        formatBytes(totals.upstreamBytes),
        html`<div class="muted">${num(totals.upstreamRequests)} upstream requests</div>`,
      )}
      ${card(
        "Saving",
        formatRatio(totals.savingRatio),
        html`<div class="muted">of ${
          formatBytes(totals.directBytes)
        } clients would have downloaded</div>`,
      )}
      </div>
      <p
        class="muted">Mode: ${status.freshness.offline
          ? "offline (never contacts an upstream)"
          : "online"}; metadata fresh for ${formatDuration(
            status.freshness.ttlSeconds,
          )}, served stale up to ${formatDuration(
            status.freshness.maxStaleSeconds,
          )} more while refreshed.</p>
      ${hours ? html`<h2>Traffic</h2>${trafficChart(hours, now.getTime())}` : ""}
      <h2>Ecosystems</h2>
      <table id="ecosystems">
        <thead>
          <tr>
            <th>ecosystem</th>
            <th class="num">cached packages</th>
            <th class="num">private</th>
            <th class="num">documents</th>
            <th class="num">cached bytes</th>
            <th class="num">requests</th>
            <th class="num">hit ratio</th>
            <th class="num">served</th>
            <th class="num">upstream</th>
            <th class="num">direct</th>
            <th class="num">saving</th>
          </tr>
        </thead>
        <tbody>${ecosystemRows}</tbody>
      </table>
      <h2>Clients</h2>
      ${clientRows.length
        ? html`
          <table id="clients">
            <thead>
              <tr>
                <th>address</th>
                <th>last seen</th>
                <th class="num">requests</th>
                <th class="num">hit ratio</th>
                <th class="num">served</th>
                <th class="num">upstream</th>
                <th class="num">mean answer time</th>
              </tr>
            </thead>
            <tbody>${clientRows}</tbody>
          </table>
        `
        : html`<p class="muted">No client has fetched a package since the registry started.</p>`}
      ${upstreams}
    `,
  );
}

export interface PackagesData {
  query: CatalogQuery;
  result: CatalogPage;
  ecosystems: readonly string[];
  /** The ecosystems that take private packages (a name can be claimed there). */
  privateTypes?: readonly string[];
  /** The browser's session holds the write token: show the claim form. */
  signedIn?: boolean;
}

/** A query string for the packages list, keeping the filters and moving to `page`. */
function listHref(query: CatalogQuery, page: number): string {
  const params = new URLSearchParams();
  if (query.q) params.set("q", query.q);
  if (query.type) params.set("type", query.type);
  if (query.kind) params.set("kind", query.kind);
  if (page > 1) params.set("page", String(page));
  const text = params.toString();
  return `/ui/packages${text ? `?${text}` : ""}`;
}

/** The path of a package page: the name percent-encoded as one segment. */
export function packageHref(type: string, name: string): string {
  return `/ui/packages/${encodeURIComponent(type)}/${encodeURIComponent(name)}`;
}

export function packagesPage(
  { query, result, ecosystems, privateTypes = [], signedIn }: PackagesData,
): Html {
  const option = (value: string, label: string, selected: boolean) =>
    html`
      <option value="${value}" ${selected
        ? html`
          selected
        `
        : ""}>${label}</option>
    `;
  const kinds: [PackageKind | "", string][] = [["", "cached and private"], ["cached", "cached"], [
    "private",
    "private",
  ]];
  const rows = result.entries.map((entry) =>
    html`
      <tr>
        <td><a href="${packageHref(entry.type, entry.name)}">${entry.name}</a></td>
        <td>${entry.type}</td>
        <td><span class="tag">${entry.kind}</span></td>
        <td class="num">${num(entry.count)} ${entry.kind === "private" ? "versions" : "files"}</td>
        <td class="num">${formatBytes(entry.bytes)}</td>
      </tr>
    `
  );
  const pager = html`
    <div
      class="pager">${result.page > 1
        ? html`<a rel="prev" href="${listHref(query, result.page - 1)}">← previous</a>`
        : ""}<span class="muted">page ${result.page} of ${result.pages} · ${num(
          result.total,
        )} packages</span>${result.page < result.pages
        ? html`<a rel="next" href="${listHref(query, result.page + 1)}">next →</a>`
        : ""}</div>
  `;
  return layout(
    "Packages",
    "packages",
    html`
      <h1>Packages</h1>
      <form class="search" method="get" action="/ui/packages">
        <input type="search" name="q" value="${query.q}" placeholder="name contains…"
          aria-label="search">
        <select name="type" aria-label="ecosystem">${option(
          "",
          "every ecosystem",
          !query.type,
        )}${ecosystems.map((id) => option(id, id, query.type === id))}</select>
        <select name="kind" aria-label="kind">${kinds.map(([value, label]) =>
          option(value, label, (query.kind ?? "") === value)
        )}</select>
        <button type="submit">Search</button>
      </form>
      ${rows.length
        ? html`
          <table id="packages">
            <thead>
              <tr>
                <th>name</th>
                <th>ecosystem</th>
                <th>kind</th>
                <th class="num">in the cache</th>
                <th class="num">size</th>
              </tr>
            </thead>
            <tbody>${rows}</tbody>
          </table>
        `
        : html`<p class="muted" id="no-packages">No package matches.</p>`}
      ${pager}
      ${privateTypes.length
        ? html`
          <h2>Private packages</h2>
          ${signedIn
            ? [claimForm(privateTypes), signOutForm(listHref(query, result.page))]
            : tokenForm(listHref(query, result.page))}
        `
        : ""}
    `,
  );
}

export interface PackageData {
  ecosystem: Ecosystem;
  name: string;
  cached: StoredFileSummary[];
  private?: { summary: PrivatePackageSummary; description?: string };
  /** The base URL the browser reached the registry by (validated Host). */
  baseUrl: string;
  /** The browser's session holds the write token: show the write forms. */
  signedIn?: boolean;
}

export function packagePage(data: PackageData): Html {
  const { ecosystem, name } = data;
  const here = packageHref(ecosystem.id, name);
  const privateSummary = data.private?.summary;
  const newest = privateSummary?.distTags.latest ?? privateSummary?.versions.at(-1)?.version;
  const snippets = installSnippets(ecosystem, data.baseUrl, name, newest);
  const privateRows = (privateSummary?.versions ?? []).map((v) =>
    html`
      <tr>
        <td>${v.version}</td>
        <td>${v.publishedAt}</td>
        <td>${v.files.map((f) =>
          html`<div>${f.filename} <span class="muted">${formatBytes(f.size)}</span></div>`
        )}</td>
        <td>${v.yanked
          ? html`<span class="tag">yanked${v.yanked === true ? "" : `: ${v.yanked}`}</span>`
          : ""}${v.deprecated
          ? html`<span class="tag">deprecated: ${v.deprecated}</span>`
          : ""}</td>
        <td>${data.signedIn ? removeVersionForm(ecosystem.id, name, v.version) : ""}</td>
      </tr>
    `
  );
  const cachedRows = data.cached.map((f) =>
    html`
      <tr>
        <td>${f.file}</td>
        <td class="num">${formatBytes(f.size)}</td>
        <td>${f.storedAt === undefined ? "-" : new Date(f.storedAt).toISOString()}</td>
      </tr>
    `
  );
  return layout(
    `${name} (${ecosystem.id})`,
    "packages",
    html`<h1>${name} <span class="tag">${ecosystem.id}</span>${
      privateSummary
        ? html`
          <span class="tag">private</span>
        `
        : ""
    }</h1>
${data.private?.description ? html`<p id="description">${data.private.description}</p>` : ""}
${
      privateSummary
        ? html`
          <h2>Private versions</h2>
          <table id="private-versions">
            <thead>
              <tr>
                <th>version</th>
                <th>published</th>
                <th>files</th>
                <th></th>
                <th></th>
              </tr>
            </thead>
            <tbody>${privateRows}</tbody>
          </table>
          ${Object.keys(privateSummary.distTags).length
            ? html`<p class="muted">tags: ${
              Object.entries(privateSummary.distTags).map(([tag, v]) => `${tag} → ${v}`).join(", ")
            }</p>`
            : ""}
          ${data.signedIn
            ? [removePackageForm(ecosystem.id, name), signOutForm(here)]
            : tokenForm(here)}
        `
        : ""
    }
${
      data.cached.length
        ? html`
          <h2>Cached files</h2>
          <table id="cached-files">
            <thead>
              <tr>
                <th>file</th>
                <th class="num">size</th>
                <th>fetched</th>
              </tr>
            </thead>
            <tbody>${cachedRows}</tbody>
          </table>
        `
        : privateSummary
        ? ""
        : html`<p class="muted">Nothing of this package is in the cache.</p>`
    }
<h2>Install</h2>
${
      snippets.map((s) =>
        html`
          <div class="muted">${s.client}</div>
          <pre class="snippet">${s.command}</pre>
        `
      )
    }`,
  );
}

export interface SetupData {
  ecosystems: readonly Ecosystem[];
  /** How this browser reached the registry, e.g. http://127.0.0.1:3080 (validated Host). */
  hostBaseUrl: string;
  /** How a VM reaches it: http://host.docker.internal:PORT. */
  vmBaseUrl: string;
}

export function setupPage({ ecosystems, hostBaseUrl, vmBaseUrl }: SetupData): Html {
  const section = (title: string, baseUrl: string) =>
    html`<h2>${title}</h2>${
      ecosystems.map((ecosystem) =>
        html`<h3>${ecosystem.id}</h3>
<p class="muted">For this shell (<code>${ecosystem.clientUrl(baseUrl)}</code>):</p>
<pre class="snippet">${exportLines(ecosystem, baseUrl).join("\n")}</pre>
${
          Object.entries(userFiles(ecosystem, baseUrl)).map(([path, content]) =>
            html`
              <p class="muted">For good: <code>~/${path}</code></p>
              <pre>${content}</pre>
            `
          )
        }`
      )
    }`;
  return layout(
    "Set-up",
    "setup",
    html`
      <h1>Set-up</h1>
      <p>Configure npm, pip, uv and cargo on any machine that reaches this registry:</p>
      <pre class="snippet" id="one-liner">curl -fsSL ${hostBaseUrl}/setup.sh | sh</pre>
      <p
        class="muted">Undo with <code>curl -fsSL ${hostBaseUrl}/setup.sh | sh -s -- --undo</code>. On the host itself, <code>vm pkg use</code> does the same for one shell.</p>
      ${section(`From this machine (${hostBaseUrl})`, hostBaseUrl)}
      ${section(`From a VM or container (${vmBaseUrl})`, vmBaseUrl)}
    `,
  );
}

export function notFoundPage(message: string): Html {
  return layout(
    "Not found",
    undefined,
    html`
      <h1>Not found</h1>
      <p>${message}</p>
    `,
  );
}
