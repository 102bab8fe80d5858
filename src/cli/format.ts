// Human-readable numbers for CLI output.
import { formatBytes } from "../host/format_bytes.ts";
import { type EcosystemCounters, savingRatio } from "../registry/counters.ts";

export { formatBytes };

/** "45s", "12m 3s", "5m", "2h 10m", "3d": the two largest units, a zero second one left out. */
export function formatDuration(seconds: number): string {
  const s = Math.floor(seconds);
  const two = (big: number, bigUnit: string, small: number, smallUnit: string) =>
    small ? `${big}${bigUnit} ${small}${smallUnit}` : `${big}${bigUnit}`;
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return two(m, "m", s % 60, "s");
  const h = Math.floor(m / 60);
  if (h < 24) return two(h, "h", m % 60, "m");
  return two(Math.floor(h / 24), "d", h % 24, "h");
}

export function formatRatio(hits: number, misses: number): string {
  const total = hits + misses;
  return total === 0 ? "–" : `${((hits / total) * 100).toFixed(1)}%`;
}

export function formatPercent(ratio: number): string {
  return `${(ratio * 100).toFixed(1)}%`;
}

/** "90.0% of upstream traffic (64 MB of the 71 MB the clients would have downloaded)". */
export function formatSaving(
  counters: Pick<EcosystemCounters, "upstreamBytes" | "directBytes">,
): string {
  const ratio = savingRatio(counters);
  if (ratio === null) return "– (nothing served from the public registries yet)";
  const spared = Math.max(0, counters.directBytes - counters.upstreamBytes);
  return `${formatPercent(ratio)} of upstream traffic (${formatBytes(spared)} of the ` +
    `${formatBytes(counters.directBytes)} the clients would have downloaded)`;
}

/** Prints rows under a header, columns padded to their widest cell. */
export function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells.map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]))).join("  ");
  console.log(line(header));
  for (const row of rows) console.log(line(row));
}
