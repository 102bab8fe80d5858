// How far a mistyped name is from a known one, for "did you mean …?" in config errors.

/** Levenshtein distance, with a swap of two neighbours counted as one edit ("prot" → "port"). */
export function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.length][b.length];
}

/** A name in any spelling (dataDir, data-dir, Data.Dir) as a snake_case key. */
export function asSnakeKey(name: string): string {
  return name.replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase().replace(/[-. ]/g, "_");
}
