// The frame every dashboard page shares: head, navigation, the stylesheet link. The stylesheet is
// served from this server (`/ui/style.css`) so the Content-Security-Policy can forbid inline style.
import { VERSION } from "../../version.ts";
import { type Html, html } from "./html.ts";

export type PageName = "overview" | "packages" | "setup";

const NAV: readonly { name: PageName; href: string; label: string }[] = [
  { name: "overview", href: "/", label: "Overview" },
  { name: "packages", href: "/ui/packages", label: "Packages" },
  { name: "setup", href: "/ui/setup", label: "Set-up" },
];

export function layout(title: string, current: PageName | undefined, body: Html): Html {
  return html`
    <!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>${title} · vm pkg</title>
        <link rel="stylesheet" href="/ui/style.css">
      </head>
      <body>
        <header>
          <span class="brand">vm pkg</span>
          <nav>${NAV.map((item) =>
            html`
              <a href="${item.href}" ${item.name === current
                ? html`
                  aria-current="page"
                `
                : ""}>${item.label}</a>
            `
          )}</nav>
          <span class="version">${VERSION}</span>
        </header>
        <main>
    ${body}
        </main>
      </body>
    </html>
  `;
}

export const STYLESHEET = `
:root { color-scheme: light dark; --fg: #1b1f24; --muted: #5b6572; --line: #d6dbe1;
  --accent: #2458c6; --bg: #fff; --panel: #f5f7f9; }
@media (prefers-color-scheme: dark) { :root { --fg: #e4e7eb; --muted: #9aa4b1; --line: #353b43;
  --accent: #7aa7ff; --bg: #15181c; --panel: #1d2126; } }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; gap: 1.5rem; align-items: baseline; padding: .8rem 1.5rem;
  border-bottom: 1px solid var(--line); }
.brand { font-weight: 700; }
nav a { margin-right: 1rem; color: var(--accent); text-decoration: none; }
nav a[aria-current] { font-weight: 600; text-decoration: underline; }
.version { margin-left: auto; color: var(--muted); font-size: .85rem; }
main { padding: 1rem 1.5rem 3rem; max-width: 72rem; }
h1 { font-size: 1.4rem; margin: .5rem 0 1rem; }
h2 { font-size: 1.1rem; margin: 1.8rem 0 .6rem; }
table { border-collapse: collapse; width: 100%; margin-bottom: 1rem; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { color: var(--muted); font-weight: 600; font-size: .85rem; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(12rem, 1fr)); gap: .8rem; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: .7rem .9rem; }
.card .label { color: var(--muted); font-size: .8rem; }
.card .value { font-size: 1.3rem; font-weight: 600; }
.bar { height: .5rem; background: var(--line); border-radius: 3px; overflow: hidden; margin-top: .3rem; }
.bar span { display: block; height: 100%; background: var(--accent); }
pre { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: .6rem .8rem;
  overflow-x: auto; font-size: .85rem; }
form.search { display: flex; gap: .5rem; flex-wrap: wrap; margin-bottom: 1rem; }
input, select, button { font: inherit; padding: .3rem .5rem; }
.muted { color: var(--muted); }
.tag { display: inline-block; font-size: .75rem; padding: 0 .4rem; border-radius: 3px;
  border: 1px solid var(--line); color: var(--muted); }
.pager { display: flex; gap: 1rem; align-items: baseline; }
form.write { display: flex; gap: .6rem; flex-wrap: wrap; align-items: baseline; margin: .8rem 0; }
td form { margin: 0; }
svg.chart { width: 100%; height: 5rem; display: block; margin-bottom: .4rem; }
svg.chart .axis { stroke: var(--line); }
svg.chart .bar-requests { fill: var(--accent); }
svg.chart .bar-saved { fill: #2e9d5b; }
`;
