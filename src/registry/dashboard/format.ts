// Figures as people read them: sizes, shares, ages.
import { formatBytes } from "../../host/format_bytes.ts";

export { formatBytes };

/** A ratio 0..1 as a percentage; "-" when there is nothing to divide yet. */
export function formatRatio(ratio: number | null | undefined): string {
  if (ratio === null || ratio === undefined || !Number.isFinite(ratio)) return "-";
  return `${(ratio * 100).toFixed(1)} %`;
}

/** Cache hits among hits and misses; null before the first. */
export function hitRatio(counters: { cacheHits: number; cacheMisses: number }): number | null {
  const total = counters.cacheHits + counters.cacheMisses;
  return total > 0 ? counters.cacheHits / total : null;
}

export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${Math.floor(seconds)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min`;
  if (seconds < 86400) {
    return `${Math.floor(seconds / 3600)} h ${Math.floor(seconds % 3600 / 60)} min`;
  }
  return `${Math.floor(seconds / 86400)} d ${Math.floor(seconds % 86400 / 3600)} h`;
}
