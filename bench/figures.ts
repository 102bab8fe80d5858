// Summary statistics, the machine description and number formatting for the report.

export interface Summary {
  median: number;
  min: number;
  max: number;
}

export function summarize(values: readonly number[]): Summary {
  if (values.length === 0) return { median: NaN, min: NaN, max: NaN };
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1
    ? sorted[middle]
    : (sorted[middle - 1] + sorted[middle]) / 2;
  return { median, min: sorted[0], max: sorted[sorted.length - 1] };
}

/** The q-quantile (0..1) by nearest rank, for request-duration distributions. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

export interface Machine {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  os: string;
  kernel: string;
  deno: string;
}

/** What the README must record about the machine; /proc/cpuinfo is Linux-only, hence the guards. */
export async function describeMachine(): Promise<Machine> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const model = cpuinfo.match(/^model name\s*:\s*(.+)$/m)?.[1]?.trim() ?? "unknown";
  return {
    cpus: navigator.hardwareConcurrency,
    cpuModel: model,
    memoryGiB: Math.round(Deno.systemMemoryInfo().total / 2 ** 30 * 10) / 10,
    os: `${Deno.build.os} ${Deno.build.arch}`,
    kernel: Deno.osRelease(),
    deno: Deno.version.deno,
  };
}

export function formatSeconds(seconds: number): string {
  return `${seconds.toFixed(2)} s`;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KiB", "MiB", "GiB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

export function formatRatio(ratio: number): string {
  return `${ratio.toFixed(2)}x`;
}

/** Left-aligns the first `textColumns` columns (labels) and right-aligns the rest (numbers). */
export function table(rows: string[][], textColumns = 1): string {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  return rows
    .map((row) =>
      row.map((cell, column) =>
        column < textColumns ? cell.padEnd(widths[column]) : cell.padStart(widths[column])
      ).join("  ").trimEnd()
    )
    .join("\n");
}

/** CPU seconds used by the whole machine and by this process with its reaped children. */
export interface CpuSnapshot {
  machineBusy: number;
  ownAndChildren: number;
  at: number;
}

const CLOCK_TICKS_PER_SECOND = 100;

/**
 * Reads /proc/stat and /proc/self/stat (Linux only). Comparing two snapshots taken after every
 * child has exited tells how much CPU other processes used meanwhile: work that competed with npm
 * and the server and made the figures noisier.
 */
export async function cpuSnapshot(): Promise<CpuSnapshot | undefined> {
  try {
    const [stat, self] = await Promise.all([
      Deno.readTextFile("/proc/stat"),
      Deno.readTextFile("/proc/self/stat"),
    ]);
    // cpu  user nice system idle iowait irq softirq steal ...
    const [user, nice, system, , , irq, softirq, steal] = stat.split("\n")[0].trim().split(/\s+/)
      .slice(1).map(Number);
    // Fields after "(comm) ": utime, stime, cutime, cstime are the 14th to 17th of the line.
    const fields = self.slice(self.lastIndexOf(")") + 2).split(" ").map(Number);
    return {
      machineBusy: (user + nice + system + irq + softirq + steal) / CLOCK_TICKS_PER_SECOND,
      ownAndChildren: (fields[11] + fields[12] + fields[13] + fields[14]) / CLOCK_TICKS_PER_SECOND,
      at: performance.now(),
    };
  } catch {
    return undefined;
  }
}

export interface ForeignCpu {
  /** CPU seconds used by other processes (and by the kernel on their behalf or ours). */
  seconds: number;
  /** The same as a share of all CPU time the machine had during the run. */
  share: number;
}

export function foreignCpu(
  before: CpuSnapshot | undefined,
  after: CpuSnapshot | undefined,
  cpus: number,
): ForeignCpu | undefined {
  if (!before || !after) return undefined;
  const seconds = Math.max(
    0,
    (after.machineBusy - before.machineBusy) - (after.ownAndChildren - before.ownAndChildren),
  );
  const available = (after.at - before.at) / 1000 * cpus;
  return { seconds, share: available > 0 ? seconds / available : 0 };
}
