// The overview's chart of the last days: requests and the bytes the cache saved, per hour, as an
// SVG drawn on the server (no script; colours come from the stylesheet, so the CSP needs no
// inline style). Every figure is a number; the hover titles go through `html` like all text.
import { HOUR_MS, type HourTraffic, KEEP_MS } from "../traffic_history.ts";
import { formatBytes } from "./format.ts";
import { type Html, html } from "./html.ts";

const WIDTH = 720;
const HEIGHT = 80;
const HOURS = KEEP_MS / HOUR_MS;

/** Bytes clients would have fetched upstream without the cache, less what it fetched. */
export function savedBytes(hour: HourTraffic): number {
  return Math.max(0, hour.directBytes - hour.upstreamBytes);
}

function bars(
  hours: readonly HourTraffic[],
  now: number,
  value: (hour: HourTraffic) => number,
  label: (value: number) => string,
  kind: string,
): Html {
  const first = Math.floor(now / HOUR_MS) * HOUR_MS - (HOURS - 1) * HOUR_MS;
  const shown = hours.filter((hour) => hour.hour >= first && hour.hour <= first + KEEP_MS);
  const max = Math.max(1, ...shown.map(value));
  const slot = WIDTH / HOURS;
  return html`
    <svg class="chart" viewBox="0 0 ${WIDTH} ${HEIGHT}" preserveAspectRatio="none" role="img"
      aria-label="${kind} per hour, last ${HOURS / 24} days">
    <line class="axis" x1="0" y1="${HEIGHT - 0.5}" x2="${WIDTH}" y2="${HEIGHT - 0.5}"></line>
    ${shown.map((hour) => {
      const height = Math.max(value(hour) > 0 ? 1 : 0, (value(hour) / max) * (HEIGHT - 4));
      const x = ((hour.hour - first) / HOUR_MS) * slot;
      return html`
        <rect class="bar-${kind}" x="${x.toFixed(1)}" y="${(HEIGHT - height).toFixed(
          1,
        )}" width="${Math.max(1, slot - 1).toFixed(1)}"
          height="${height.toFixed(1)}">
          <title>${new Date(hour.hour).toISOString().slice(0, 13)}:00Z: ${label(
            value(hour),
          )}</title>
        </rect>
      `;
    })}
    </svg>
  `;
}

/** The chart section; a sentence instead until two hours have been recorded. */
export function trafficChart(hours: readonly HourTraffic[], clockNow: number): Html {
  // The records follow the registry's clock (a test moves it forward): the chart ends at the
  // later of now and the newest record.
  const now = Math.max(clockNow, ...hours.map((hour) => hour.hour));
  if (hours.length === 0) {
    return html`
      <p class="muted"
        id="traffic">The chart of requests and savings per hour starts once the registry has run into its second hour.</p>
    `;
  }
  return html`<div id="traffic">
<p class="muted">Requests per hour, last ${HOURS / 24} days</p>
${bars(hours, now, (hour) => hour.requests, (n) => `${n} requests`, "requests")}
<p class="muted">Saved per hour (upstream bytes the cache spared)</p>
${bars(hours, now, savedBytes, (n) => `${formatBytes(n)} saved`, "saved")}
</div>`;
}
