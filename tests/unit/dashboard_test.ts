// The dashboard's templates: every value from a package, a client or a request renders as text
// (a `<script>` name or an `<img onerror>` description stays inert), Accept decides page or JSON,
// and the packages list pages through 10,000 entries. Render times with a filled cache are printed
// (no timing assertion: the figures go to the report).
import assert from "node:assert/strict";
import { escapeHtml, html, PAGE_HEADERS, wantsHtml } from "../../src/registry/dashboard/html.ts";
import {
  catalogEntries,
  type CatalogEntry,
  CatalogSnapshot,
  PAGE_SIZE,
  pageOf,
} from "../../src/registry/dashboard/catalog.ts";
import {
  overviewPage,
  packageHref,
  packagePage,
  packagesPage,
  setupPage,
} from "../../src/registry/dashboard/pages.ts";
import { installSnippets, shellQuote } from "../../src/registry/dashboard/snippets.ts";
import { ecosystemNamed, ECOSYSTEMS } from "../../src/registry/ecosystems.ts";
import type { AdminEcosystem } from "../../src/registry/private_admin.ts";
import type { ReportedStatus } from "../../src/registry/status.ts";
import {
  backPath,
  fromOwnPage,
  sessionToken,
  startSession,
} from "../../src/registry/dashboard/session.ts";
import { zeroCounters } from "../../src/registry/counters.ts";

const HOSTILE_NAME = `<script>window.pwned=1</script>`;
const HOSTILE_TEXT = `<img src=x onerror="window.pwned=1">"'&`;

/** No markup from the hostile strings survives: only their escaped text. */
function assertInert(page: string): void {
  assert.ok(!page.includes("<script"), "a <script> tag was rendered");
  assert.ok(!/<img/i.test(page), "an <img> tag was rendered");
  assert.ok(!/onerror="window/.test(page), "an attribute was rendered");
}

Deno.test("html escapes every interpolation, nested templates once, lists and nothing", () => {
  assert.equal(
    escapeHtml(`<a href="x">'&'</a>`),
    "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;",
  );
  const inner = html`<b>${"<i>"}</b>`;
  assert.equal(
    String(html`<p>${inner}${["<", ">"]}${null}${undefined}${false}${0}</p>`),
    "<p><b>&lt;i&gt;</b>&lt;&gt;0</p>",
  );
  // An attribute value cannot be left: quotes are escaped.
  assert.equal(String(html`<a title="${`" onclick="x`}">`), `<a title="&quot; onclick=&quot;x">`);
});

Deno.test("browsers get the page, scripts and curl the JSON index", () => {
  assert.equal(wantsHtml("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"), true);
  assert.equal(wantsHtml("application/json"), false);
  assert.equal(wantsHtml("*/*"), false);
  assert.equal(wantsHtml(null), false);
  assert.equal(wantsHtml("application/json, text/html"), false);
  assert.match(PAGE_HEADERS["content-security-policy"], /default-src 'self'/);
  assert.match(PAGE_HEADERS["content-security-policy"], /frame-ancestors 'none'/);
  assert.match(PAGE_HEADERS["content-security-policy"], /script-src 'none'/);
  assert.equal(PAGE_HEADERS["x-content-type-options"], "nosniff");
});

function entries(n: number): CatalogEntry[] {
  return Array.from({ length: n }, (_, i) => ({
    type: i % 2 ? "npm" : "pypi",
    name: `pkg-${String(i).padStart(5, "0")}`,
    kind: "cached" as const,
    count: 1,
    bytes: 1000 + i,
  }));
}

Deno.test("the packages list pages by 50, clamps the page, ranks exact and prefix matches first", () => {
  const all = entries(120);
  const first = pageOf(all, { q: "", page: 1 });
  assert.equal(first.total, 120);
  assert.equal(first.pages, 3);
  assert.equal(first.entries.length, PAGE_SIZE);
  assert.equal(first.entries[0].name, "pkg-00000");
  const last = pageOf(all, { q: "", page: 3 });
  assert.equal(last.entries.length, 20);
  assert.equal(last.entries.at(-1)!.name, "pkg-00119");
  assert.equal(pageOf(all, { q: "", page: 99 }).page, 3);
  assert.equal(pageOf(all, { q: "", page: Number("nonsense") }).page, 1);
  assert.equal(pageOf(all, { q: "", page: -4 }).page, 1);
  const ranked = pageOf([
    { type: "npm", name: "xreact", kind: "cached", count: 1, bytes: 1 },
    { type: "npm", name: "react-dom", kind: "cached", count: 1, bytes: 1 },
    { type: "npm", name: "react", kind: "cached", count: 1, bytes: 1 },
  ], { q: "REACT", page: 1 });
  assert.deepEqual(ranked.entries.map((e) => e.name), ["react", "react-dom", "xreact"]);
  const page = String(packagesPage({
    query: { q: "pkg", type: "npm", page: 2 },
    result: pageOf(all.filter((e) => e.type === "npm"), { q: "pkg", page: 2 }),
    ecosystems: ["npm", "pypi"],
  }));
  assert.match(page, /page 2 of 2/);
  assert.match(page, /href="\/ui\/packages\?q=pkg&amp;type=npm"/); // previous keeps the filters
  assert.ok(!page.includes('rel="next"'));
});

Deno.test("the list filters by ecosystem and kind", () => {
  const all: CatalogEntry[] = [
    { type: "npm", name: "a", kind: "cached", count: 1, bytes: 1 },
    { type: "npm", name: "b", kind: "private", count: 1, bytes: 1 },
    { type: "pypi", name: "c", kind: "cached", count: 1, bytes: 1 },
  ];
  const names = (query: Partial<Parameters<typeof pageOf>[1]>) =>
    pageOf(all, { q: "", page: 1, ...query }).entries.map((e) => e.name);
  assert.deepEqual(names({ type: "npm" }), ["a", "b"]);
  assert.deepEqual(names({ kind: "cached" }), ["a", "c"]);
  assert.deepEqual(names({ type: "npm", kind: "private" }), ["b"]);
});

Deno.test("the catalog is read once for requests that come together and again once stale", async () => {
  let now = 0;
  let loads = 0;
  let fail = false;
  const snapshot = new CatalogSnapshot(
    () => {
      loads++;
      return fail ? Promise.reject(new Error("kv")) : Promise.resolve([]);
    },
    5000,
    () => now,
  );
  await Promise.all([snapshot.entries(), snapshot.entries()]);
  assert.equal(loads, 1);
  now = 5000;
  await snapshot.entries();
  assert.equal(loads, 1);
  now = 5001;
  fail = true;
  await assert.rejects(snapshot.entries());
  assert.equal(loads, 2);
  fail = false;
  await snapshot.entries(); // a failed reading is not kept
  assert.equal(loads, 3);
  snapshot.invalidate(); // a write from the dashboard: read afresh
  await snapshot.entries();
  assert.equal(loads, 4);
});

Deno.test("a package named or described with markup renders inert on every page", () => {
  const npm = ecosystemNamed("npm")!;
  const list = String(packagesPage({
    query: { q: HOSTILE_TEXT, page: 1 },
    result: pageOf([{ type: "npm", name: HOSTILE_NAME, kind: "private", count: 1, bytes: 5 }], {
      q: "",
      page: 1,
    }),
    ecosystems: ["npm"],
  }));
  assertInert(list);
  assert.ok(list.includes("&lt;script&gt;window.pwned=1&lt;/script&gt;"));
  assert.ok(list.includes(`href="${packageHref("npm", HOSTILE_NAME)}"`));
  const detail = String(packagePage({
    ecosystem: npm,
    name: HOSTILE_NAME,
    cached: [{ file: HOSTILE_TEXT, size: 10, storedAt: 0 }],
    private: {
      summary: {
        type: "npm",
        name: HOSTILE_NAME,
        shadowsUpstream: false,
        distTags: { latest: HOSTILE_TEXT },
        createdAt: "",
        modifiedAt: "",
        versions: [{
          version: HOSTILE_TEXT,
          publishedAt: "",
          files: [{ filename: HOSTILE_NAME, size: 1, sha256: "" }],
          deprecated: HOSTILE_TEXT,
        }],
      },
      description: HOSTILE_TEXT,
    },
    baseUrl: "http://127.0.0.1:3080",
  }));
  assertInert(detail);
  assert.ok(detail.includes("&lt;img src=x onerror=&quot;window.pwned=1&quot;&gt;"));
  const clients = String(overviewPage({
    status: status(),
    clients: { [HOSTILE_NAME]: { ...zeroCounters(), lastSeen: HOSTILE_TEXT } },
    now: new Date(),
  }));
  assertInert(clients);
});

Deno.test("install snippets come from the descriptors and quote what the shell would read", () => {
  const npm = ecosystemNamed("npm")!;
  const snippets = installSnippets(npm, "http://127.0.0.1:3080", "@scope/left-pad", "1.0.0");
  assert.deepEqual(
    snippets.find((s) => s.client === "npm")?.command,
    "npm_config_registry=http://127.0.0.1:3080/npm/ npm install @scope/left-pad@1.0.0",
  );
  const pip = installSnippets(ecosystemNamed("pypi")!, "http://127.0.0.1:3080", "six", "1.16.0");
  assert.match(pip.find((s) => s.client === "pip")!.command, /pip install six==1\.16\.0$/);
  const cargo = installSnippets(ecosystemNamed("cargo")!, "http://127.0.0.1:3080", "serde");
  assert.match(cargo[0].command, /^cargo --config 'source\.crates-io\.replace-with="vm"'/);
  assert.equal(shellQuote("a'b; rm -rf /"), `'a'"'"'b; rm -rf /'`);
  const setup = String(setupPage({
    ecosystems: ECOSYSTEMS,
    hostBaseUrl: "http://127.0.0.1:3080",
    vmBaseUrl: "http://host.docker.internal:3080",
  }));
  assert.ok(setup.includes("curl -fsSL http://127.0.0.1:3080/setup.sh | sh"));
  assert.ok(setup.includes("export PIP_INDEX_URL=http://host.docker.internal:3080/pypi/simple/"));
});

function status(): ReportedStatus {
  const counters = { ...zeroCounters(), requests: 10, cacheHits: 7, cacheMisses: 3 };
  return {
    version: "test",
    url: "http://127.0.0.1:3080",
    uptimeSeconds: 3600,
    cache: {
      bytes: 5e8,
      blobs: 1,
      blobBytes: 5e8,
      renderedFiles: 0,
      renderedBytes: 0,
      tmpFiles: 0,
      tmpBytes: 0,
      limit: 1e9,
    },
    totals: { ...counters, savingRatio: 0.5 },
    freshness: { ttlSeconds: 300, maxStaleSeconds: 86400, offline: false },
    ecosystems: Object.fromEntries(ECOSYSTEMS.map((e) => [e.id, {
      ...counters,
      packages: 10_000,
      cachedBytes: 1e9,
      documents: 10_000,
      privatePackages: 3,
    }])),
  };
}

Deno.test("render times with 10,000 cached packages (figures printed, not asserted)", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const npm = ecosystemNamed("npm")!;
    for (let i = 0; i < 10_000; i += 500) {
      const op = kv.atomic();
      for (let j = i; j < i + 500; j++) {
        const name = `package-${String(j).padStart(5, "0")}`;
        op.set([...npm.cachedFiles, name, `${name}-1.0.${j}.tgz`], {
          sha256: "0".repeat(64),
          size: 4096 + j,
          storedAt: Date.now(),
        });
      }
      await op.commit();
    }
    const admins: AdminEcosystem[] = ECOSYSTEMS.map((ecosystem) => ({
      ecosystem,
      service: { routes: [], idle: () => Promise.resolve() },
    }));
    const time = async <T>(fn: () => T | Promise<T>) => {
      const started = performance.now();
      const value = await fn();
      return { value, ms: performance.now() - started };
    };
    const listed = await time(() => catalogEntries(kv, admins));
    assert.equal(listed.value.length, 10_000);
    const query = { q: "package-09", page: 3 };
    const searched = await time(() =>
      String(packagesPage({ query, result: pageOf(listed.value, query), ecosystems: ["npm"] }))
    );
    assert.match(searched.value, /page 3 of 20/);
    const overview = await time(() =>
      String(overviewPage({ status: status(), clients: {}, now: new Date() }))
    );
    assert.match(overview.value, /10,000/);
    console.log(
      `dashboard with 10,000 cached npm packages: reading the list from KV ${
        listed.ms.toFixed(1)
      } ms; search + page 3 rendered ${searched.ms.toFixed(1)} ms; overview rendered ${
        overview.ms.toFixed(1)
      } ms`,
    );
  } finally {
    kv.close();
  }
});

Deno.test("write forms: only from the server's own pages, back only to its own paths", () => {
  const post = (headers: Record<string, string>) =>
    new Request("http://127.0.0.1:3080/ui/session", { method: "POST", headers });
  assert.equal(
    fromOwnPage(post({ host: "127.0.0.1:3080", origin: "http://127.0.0.1:3080" })),
    true,
  );
  assert.equal(fromOwnPage(post({ host: "127.0.0.1:3080", origin: "http://evil.example" })), false);
  assert.equal(fromOwnPage(post({ host: "127.0.0.1:3080", origin: "null" })), false);
  assert.equal(fromOwnPage(post({ host: "127.0.0.1:3080" })), false);
  assert.equal(
    fromOwnPage(post({ host: "127.0.0.1:3080", "sec-fetch-site": "same-origin" })),
    true,
  );
  assert.equal(fromOwnPage(post({ host: `x"<y`, origin: `http://x"<y` })), false);
  assert.equal(backPath("/ui/packages/npm/a?x=1"), "/ui/packages/npm/a?x=1");
  assert.equal(backPath("/"), "/");
  for (
    const hostile of ["//evil.example/", "https://evil.example/", "/\\evil", "javascript:x", null]
  ) {
    assert.equal(backPath(hostile), "/ui/packages", String(hostile));
  }
  const withCookie = new Request("http://x/", {
    headers: { cookie: "a=b; vmpkg_ui=tok%3D1; c=d" },
  });
  assert.equal(sessionToken(withCookie), "tok=1");
  assert.match(startSession("t"), /HttpOnly; SameSite=Strict$/);
  assert.doesNotMatch(startSession("t"), /Max-Age|Expires/); // a session cookie: gone with the browser
});

Deno.test("package pages show the write forms only to a signed-in session", () => {
  const data = {
    ecosystem: ecosystemNamed("npm")!,
    name: "p",
    cached: [],
    private: {
      summary: {
        type: "npm",
        name: "p",
        shadowsUpstream: false,
        distTags: {},
        createdAt: "",
        modifiedAt: "",
        versions: [{ version: HOSTILE_TEXT, publishedAt: "", files: [] }],
      },
    },
    baseUrl: "http://127.0.0.1:3080",
  };
  const anonymous = String(packagePage(data));
  assert.match(anonymous, /id="token-form"/);
  assert.doesNotMatch(anonymous, /remove-version/);
  const signed = String(packagePage({ ...data, signedIn: true }));
  assert.doesNotMatch(signed, /id="token-form"/);
  assert.match(signed, /action="\/ui\/packages\/npm\/p\/remove"/);
  assert.ok(
    signed.includes(
      `name="version" value="&lt;img src=x onerror=&quot;window.pwned=1&quot;&gt;&quot;&#39;&amp;"`,
    ),
  );
  assertInert(signed);
});
