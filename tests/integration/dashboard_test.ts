// The dashboard on a real started server after real installs: npm installs a public package and
// publishes a private one whose description is markup; the overview's figures are /-/status's,
// search finds both, the package pages show versions and snippets. Then the same pages in a real
// browser (Debian's chromium, headless, puppeteer-core): the markup stays text (no dialog, no
// script ran), and a screenshot of each page goes to the test artifacts. Last, the server time of
// each page with 10,000 cached packages in its KV (printed for the report, not asserted).
import assert from "node:assert/strict";
import { join } from "node:path";
import { dataLayout } from "../../src/store/data_dir.ts";
import { AdjustableClock } from "../../src/store/clock.ts";
import { ecosystemNamed } from "../../src/registry/ecosystems.ts";
import type { RegistryStatus } from "../../src/registry/status.ts";
import { authTokenLine, hasNpm, makeProject, runNpm } from "../support/npm_client.ts";
import { type TestRegistry, withRegistry } from "../support/registry.ts";
import { artifactsDir, browserMissing, withBrowser } from "../support/browser.ts";
import { hasPython, makeVenv, pipInstall } from "../support/python_clients.ts";
import { cargoHome, hasCargo, runCargo, writeCrate } from "../support/cargo_client.ts";

const npmMissing = !(await hasNpm());
if (npmMissing) console.warn("skipping dashboard install tests: the npm client is not installed");
const pythonMissing = !(await hasPython());
const cargoMissing = !(await hasCargo());
if (pythonMissing) console.warn("the dashboard test installs no PyPI package: no python3 venv");
if (cargoMissing) console.warn("the dashboard test fetches no crate: cargo is not installed");
const noBrowser = await browserMissing();
if (noBrowser) console.warn(`skipping the dashboard's browser checks: ${noBrowser}`);

const PUBLIC = "ms";
const PYPI_PUBLIC = "six";
const CRATE_PUBLIC = "itoa";
const PRIVATE = `vm-pkg-test-dashboard-${crypto.randomUUID().slice(0, 8)}`;
const HOSTILE = `<img src=x onerror="window.pwned=1;alert(1)"><script>window.pwned=2</script>`;

async function page(url: string): Promise<{ status: number; text: string; headers: Headers }> {
  const response = await fetch(url, { headers: { accept: "text/html" } });
  return { status: response.status, text: await response.text(), headers: response.headers };
}

/** pip installs six and cargo fetches itoa through the registry (where those clients exist). */
async function fillPypiAndCargo(registry: TestRegistry): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "vm-dashboard-" });
  try {
    if (!pythonMissing) {
      const python = await makeVenv(join(dir, "venv"));
      const pip = await pipInstall(python, `${registry.url}/pypi/simple/`, [PYPI_PUBLIC]);
      assert.equal(pip.code, 0, pip.stderr);
    }
    if (!cargoMissing) {
      const project = await writeCrate(join(dir, "crate"), [
        "[package]",
        'name = "dashboard-consumer"',
        'version = "0.1.0"',
        'edition = "2021"',
        "",
        "[dependencies]",
        `${CRATE_PUBLIC} = "1"`,
      ], { path: "src/main.rs", text: "fn main() {}\n" });
      const fetched = await runCargo(["fetch"], project, {
        home: await cargoHome(dir, "home", registry.url),
        targetDir: join(dir, "target"),
      });
      assert.equal(fetched.code, 0, fetched.stderr);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** npm installs ms through the registry; npm publishes a private package described with markup. */
async function fill(registry: TestRegistry): Promise<void> {
  const project = await makeProject({ [PUBLIC]: "2.1.3" });
  const pkg = await Deno.makeTempDir({ prefix: "vm-npm-pkg-" });
  try {
    const installed = await runNpm(["install", "--no-audit"], {
      cwd: project,
      registry: `${registry.npmUrl}/`,
      cache: join(project, ".npm-cache"),
    });
    assert.equal(installed.code, 0, installed.stderr);
    await Deno.writeTextFile(
      join(pkg, "package.json"),
      JSON.stringify({ name: PRIVATE, version: "1.0.0", license: "MIT", description: HOSTILE }),
    );
    await Deno.writeTextFile(join(pkg, "index.js"), "module.exports = 1;\n");
    const published = await runNpm(["publish"], {
      cwd: pkg,
      registry: `${registry.npmUrl}/`,
      cache: join(pkg, ".npm-cache"),
      npmrc: [authTokenLine(`${registry.npmUrl}/`, registry.token)],
    });
    assert.equal(published.code, 0, published.stderr);
  } finally {
    await Deno.remove(project, { recursive: true });
    await Deno.remove(pkg, { recursive: true });
  }
}

const num = (n: number) => n.toLocaleString("en-US");

Deno.test({
  name:
    "dashboard: figures match /-/status after real installs, search and package pages, inert markup",
  ignore: npmMissing,
  async fn() {
    await withRegistry({ testClock: new AdjustableClock() }, async (registry) => {
      await fill(registry);
      await fillPypiAndCargo(registry);
      // Scripts still get the JSON index at `/`.
      const index = await fetch(registry.url, { headers: { accept: "application/json" } });
      assert.equal((await index.json()).npm, `${registry.url}/npm/`);

      const overview = await page(`${registry.url}/`);
      const status = await (await fetch(`${registry.url}/-/status`)).json() as RegistryStatus;
      assert.equal(overview.status, 200);
      assert.match(overview.headers.get("content-security-policy")!, /frame-ancestors 'none'/);
      assert.equal(overview.headers.get("x-content-type-options"), "nosniff");
      const npm = status.ecosystems.npm;
      assert.equal(npm.packages, 1);
      assert.equal(npm.privatePackages, 1);
      const row = /<tr>\s*<td><a href="\/ui\/packages\?type=npm">npm<\/a><\/td>([\s\S]*?)<\/tr>/
        .exec(overview.text)?.[1];
      assert.ok(row, "the overview has an npm row");
      const cells = [...row.matchAll(/<td class="num">([^<]*)<\/td>/g)].map((m) => m[1]);
      assert.deepEqual(cells.slice(0, 3), [
        num(npm.packages),
        num(npm.privatePackages),
        num(npm.documents),
      ]);
      assert.equal(cells[4], num(npm.requests));
      assert.match(overview.text, new RegExp(`${num(status.totals.cacheHits)} hits`));
      // This client, with its figures and its mean answer time.
      assert.match(overview.text, /<td>127\.0\.0\.1<\/td>[\s\S]*?<td class="num">[\d.]+ ms<\/td>/);

      // Every ecosystem's row is its /-/status figures.
      for (const [id, installed] of [["pypi", !pythonMissing], ["cargo", !cargoMissing]] as const) {
        const figures = status.ecosystems[id];
        const ecosystemRow = new RegExp(
          `<tr>\\s*<td><a href="/ui/packages\\?type=${id}">${id}</a></td>([\\s\\S]*?)</tr>`,
        ).exec(overview.text)?.[1] ?? "";
        const numbers = [...ecosystemRow.matchAll(/<td class="num">([^<]*)<\/td>/g)].map((m) =>
          m[1]
        );
        assert.equal(numbers[0], num(figures.packages), id);
        assert.equal(numbers[4], num(figures.requests), id);
        if (installed) assert.ok(figures.packages >= 1, `${id} cached a package`);
      }
      if (!pythonMissing) {
        const found = await page(`${registry.url}/ui/packages?q=${PYPI_PUBLIC}&type=pypi`);
        assert.match(found.text, new RegExp(`href="/ui/packages/pypi/${PYPI_PUBLIC}"`));
        const six = await page(`${registry.url}/ui/packages/pypi/${PYPI_PUBLIC}`);
        assert.match(six.text, /six-[\d.]+-py2\.py3-none-any\.whl/);
        assert.match(six.text, /pip install six<\/pre>/);
      }
      if (!cargoMissing) {
        const found = await page(`${registry.url}/ui/packages?q=${CRATE_PUBLIC}`);
        assert.match(found.text, new RegExp(`href="/ui/packages/cargo/${CRATE_PUBLIC}"`));
      }

      const search = await page(`${registry.url}/ui/packages?q=${PUBLIC}&type=npm`);
      assert.match(search.text, new RegExp(`href="/ui/packages/npm/${PUBLIC}"`));
      const privates = await page(`${registry.url}/ui/packages?kind=private`);
      assert.match(privates.text, new RegExp(`href="/ui/packages/npm/${PRIVATE}"`));
      assert.ok(!privates.text.includes(`/ui/packages/npm/${PUBLIC}"`));

      const publicPage = await page(`${registry.url}/ui/packages/npm/${PUBLIC}`);
      assert.match(publicPage.text, /ms-2\.1\.3\.tgz/);
      assert.match(publicPage.text, /npm install ms<\/pre>/);
      const privatePage = await page(`${registry.url}/ui/packages/npm/${PRIVATE}`);
      assert.match(privatePage.text, /<td>\s*1\.0\.0\s*<\/td>/);
      assert.ok(privatePage.text.includes("&lt;img src=x onerror="), "the description is shown");
      assert.ok(!privatePage.text.includes("<img") && !privatePage.text.includes("<script"));
      assert.match(privatePage.text, new RegExp(`npm install ${PRIVATE}@1\\.0\\.0</pre>`));
      assert.equal((await page(`${registry.url}/ui/packages/npm/not-here-at-all`)).status, 404);
      // A Host header that is not a host never reaches a page.
      const setup = await fetch(`${registry.url}/ui/setup`, {
        headers: { accept: "text/html", host: `x"><script>alert(1)</script>` },
      });
      const setupText = await setup.text();
      assert.ok(!setupText.includes("<script"));
      assert.ok(setupText.includes(`curl -fsSL ${registry.url}/setup.sh | sh`));

      // The chart: an hour passes (the test clock), npm asks again, and the overview draws the
      // hour's requests.
      assert.match(overview.text, /second hour/);
      const moved = await fetch(`${registry.url}/-/test/clock`, {
        method: "POST",
        headers: { authorization: `Bearer ${registry.token}` },
        body: JSON.stringify({ advanceSeconds: 3600 }),
      });
      assert.equal(moved.status, 200, await moved.text());
      for (let i = 0; i < 3; i++) {
        await (await fetch(`${registry.url}/npm/${PUBLIC}`)).body?.cancel();
      }
      const charted = await page(`${registry.url}/`);
      assert.doesNotMatch(charted.text, /x="7[2-9]\d/); // within the chart
      assert.match(charted.text, /class="bar-requests"[^>]*>\s*<title>[^<]*: 3 requests<\/title>/);

      if (!noBrowser) {
        await withBrowser(async (browser) => {
          const tab = await browser.newPage();
          const dialogs: string[] = [];
          tab.on("dialog", (dialog) => {
            dialogs.push(dialog.message());
            void dialog.dismiss();
          });
          await tab.setViewport({ width: 1280, height: 900 });
          const artifacts = await artifactsDir();
          const visit = async (path: string, shot: string) => {
            const response = await tab.goto(`${registry.url}${path}`, { waitUntil: "load" });
            assert.equal(response?.status(), 200, path);
            await tab.screenshot({
              path: join(artifacts, `dashboard-${shot}.png`),
              fullPage: true,
            });
          };
          await visit("/", "overview");
          const npmRow = await tab.$eval("#ecosystems tbody tr", (tr) => tr.textContent ?? "");
          assert.match(
            npmRow,
            new RegExp(`npm\\s+${num(npm.packages)}\\s+${num(npm.privatePackages)}`),
          );
          await visit("/ui/packages", "packages");
          // Search as a person does: type, submit, follow the result.
          await tab.type('input[name="q"]', PUBLIC);
          await Promise.all([tab.waitForNavigation(), tab.click('button[type="submit"]')]);
          const found = await tab.$$eval("#packages a", (links) => links.map((a) => a.textContent));
          assert.ok(found.includes(PUBLIC), `search lists ${PUBLIC}: ${found}`);
          await Promise.all([
            tab.waitForNavigation(),
            tab.click(`#packages a[href$="/${PUBLIC}"]`),
          ]);
          await tab.screenshot({ path: join(artifacts, "dashboard-package.png"), fullPage: true });
          const files = await tab.$eval("#cached-files", (table) => table.textContent ?? "");
          assert.match(files, /ms-2\.1\.3\.tgz/);
          const snippet = await tab.$eval("pre.snippet", (pre) => pre.textContent ?? "");
          assert.match(snippet, /npm install ms$/);
          await visit(`/ui/packages/npm/${PRIVATE}`, "private-package");
          const description = await tab.$eval("#description", (p) => p.textContent ?? "");
          assert.equal(description, HOSTILE); // shown as the text it is
          assert.equal(await tab.$$eval("#description *", (nodes) => nodes.length), 0);
          assert.equal(
            await tab.evaluate(() => (globalThis as { pwned?: number }).pwned),
            undefined,
          );
          await visit("/ui/setup", "setup");
          const oneLiner = await tab.$eval("#one-liner", (pre) => pre.textContent ?? "");
          assert.equal(oneLiner, `curl -fsSL ${registry.url}/setup.sh | sh`);
          // The token once, in the browser's session: a wrong one is refused with the reason,
          // the right one brings the write forms, and removing the private version works.
          const privateUrl = `${registry.url}/ui/packages/npm/${PRIVATE}`;
          await tab.goto(privateUrl);
          await tab.type('#token-form input[name="token"]', "vmpkg_not-the-token");
          await Promise.all([tab.waitForNavigation(), tab.click("#token-form button")]);
          assert.match(await tab.$eval("#result", (p) => p.textContent ?? ""), /token is wrong/);
          await tab.screenshot({ path: join(artifacts, "dashboard-wrong-token.png") });
          await tab.goto(privateUrl);
          await tab.type('#token-form input[name="token"]', registry.token);
          await Promise.all([tab.waitForNavigation(), tab.click("#token-form button")]);
          assert.equal(tab.url(), privateUrl);
          await tab.screenshot({
            path: join(artifacts, "dashboard-signed-in.png"),
            fullPage: true,
          });
          await Promise.all([tab.waitForNavigation(), tab.click("button.remove-version")]);
          assert.equal(tab.url(), privateUrl);
          assert.equal(await tab.$$eval("#private-versions tbody tr", (rows) => rows.length), 0);
          const listed = await (await fetch(`${registry.url}/-/packages?type=npm`)).json() as {
            packages: { name: string; versions: unknown[] }[];
          };
          assert.deepEqual(listed.packages.find((each) => each.name === PRIVATE)?.versions, []);
          assert.deepEqual(dialogs, [], "no script opened a dialog");
          console.log(`dashboard screenshots in ${artifacts}`);
        });
      }

      // The forms without a browser: a session from the token, then the whole package removed
      // and its name reopened; the list shows the change at once (no stale catalog).
      const form = (path: string, fields: Record<string, string>, cookie = "") =>
        fetch(`${registry.url}${path}`, {
          method: "POST",
          redirect: "manual",
          headers: { origin: registry.url, cookie },
          body: new URLSearchParams(fields),
        });
      const foreign = await fetch(`${registry.url}/ui/session`, {
        method: "POST",
        headers: { origin: "http://evil.example" },
        body: new URLSearchParams({ token: registry.token }),
      });
      assert.equal(foreign.status, 403);
      await foreign.body?.cancel();
      const before = await page(`${registry.url}/ui/packages?kind=private`);
      assert.match(before.text, new RegExp(PRIVATE));
      const session = await form("/ui/session", { token: registry.token, back: "/ui/packages" });
      assert.equal(session.status, 303);
      await session.body?.cancel();
      const cookie = session.headers.get("set-cookie")!.split(";")[0];
      const removed = await form(`/ui/packages/npm/${PRIVATE}/remove`, { reopen: "true" }, cookie);
      await removed.body?.cancel();
      assert.equal(removed.status, 303);
      assert.equal(removed.headers.get("location"), "/ui/packages?kind=private");
      const after = await page(`${registry.url}/ui/packages?kind=private`);
      assert.doesNotMatch(after.text, new RegExp(PRIVATE));
    });
  },
});

Deno.test("dashboard: server time of each page with 10,000 cached packages (printed)", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "vm-pkg-test-" });
  try {
    const kv = await Deno.openKv(dataLayout(dataDir).kv);
    const npm = ecosystemNamed("npm")!;
    for (let i = 0; i < 10_000; i += 500) {
      const op = kv.atomic();
      for (let j = i; j < i + 500; j++) {
        const name = `package-${String(j).padStart(5, "0")}`;
        op.set([...npm.cachedFiles, name, `${name}-1.0.0.tgz`], {
          sha256: j.toString(16).padStart(64, "0"),
          size: 4096,
          storedAt: Date.now(),
        });
      }
      await op.commit();
    }
    kv.close();
    await withRegistry({ dataDir }, async (registry) => {
      const figures: string[] = [];
      for (
        const path of [
          "/",
          "/ui/packages",
          "/ui/packages?q=package-09&page=3",
          "/ui/packages/npm/package-05000",
          "/ui/setup",
        ]
      ) {
        // The first request of a page, then the same again (the catalog read a moment ago).
        const times: string[] = [];
        for (let i = 0; i < 2; i++) {
          const started = performance.now();
          const answer = await page(`${registry.url}${path}`);
          times.push((performance.now() - started).toFixed(0));
          assert.equal(answer.status, 200, path);
        }
        figures.push(`${path} ${times.join(" then ")} ms`);
      }
      const listed = await page(`${registry.url}/ui/packages`);
      assert.match(listed.text, /page 1 of 200 · 10,000 packages/);
      console.log(`dashboard pages with 10,000 cached npm packages: ${figures.join("; ")}`);
    });
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
