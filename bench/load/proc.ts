// Memory and CPU of a server's process tree from /proc (Linux only): the server process and
// every descendant (nginx's workers, a peer's wrapper and its interpreter).

const CLOCK_TICKS_PER_SECOND = 100;
const SAMPLE_INTERVAL_MS = 100;

/** The pid and all its descendants that exist right now. */
export async function processTree(pid: number): Promise<number[]> {
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const current = queue.shift()!;
    found.push(current);
    const tasks: string[] = [];
    try {
      for await (const entry of Deno.readDir(`/proc/${current}/task`)) tasks.push(entry.name);
    } catch {
      continue;
    }
    for (const task of tasks) {
      const children = await Deno.readTextFile(`/proc/${current}/task/${task}/children`)
        .catch(() => "");
      for (const child of children.trim().split(/\s+/)) {
        if (child && !found.includes(Number(child))) queue.push(Number(child));
      }
    }
  }
  return found;
}

/** VmRSS and VmHWM (peak) of one process, in bytes; undefined once it is gone. */
async function memoryOf(pid: number): Promise<{ rss: number; hwm: number } | undefined> {
  try {
    const status = await Deno.readTextFile(`/proc/${pid}/status`);
    const kib = (field: string) =>
      Number(status.match(new RegExp(`^${field}:\\s+(\\d+)`, "m"))?.[1]);
    return { rss: kib("VmRSS") * 1024, hwm: kib("VmHWM") * 1024 };
  } catch {
    return undefined;
  }
}

/** The tree's summed VmRSS and summed VmHWM (an upper bound of the tree's peak). */
export async function treeMemory(pid: number): Promise<{ rss: number; hwm: number }> {
  let rss = 0;
  let hwm = 0;
  for (const each of await processTree(pid)) {
    const memory = await memoryOf(each);
    if (!memory) continue;
    rss += memory.rss;
    hwm += memory.hwm;
  }
  return { rss, hwm };
}

/**
 * Resets VmHWM of every process in the tree to its current RSS (`echo 5 > clear_refs`, Linux 4.0
 * and later), so the next VmHWM reading is the peak since now, spikes between samples included.
 */
export async function resetPeak(pid: number): Promise<boolean> {
  let ok = true;
  for (const each of await processTree(pid)) {
    try {
      await Deno.writeTextFile(`/proc/${each}/clear_refs`, "5");
    } catch {
      ok = false;
    }
  }
  return ok;
}

/** CPU seconds (user + system) the tree has used so far. */
export async function treeCpuSeconds(pid: number): Promise<number> {
  let ticks = 0;
  for (const each of await processTree(pid)) {
    try {
      const stat = await Deno.readTextFile(`/proc/${each}/stat`);
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // Gone.
    }
  }
  return ticks / CLOCK_TICKS_PER_SECOND;
}

export interface MemoryWatch {
  /** Stops sampling; the peak of the tree since start (bytes) and how it was measured. */
  stop(): Promise<{ peakBytes: number; sampledPeakBytes: number; fromHwm: boolean }>;
}

/**
 * Watches a server tree's memory during one load point: resets the peak, samples the summed
 * VmRSS every 100 ms, and at the end reads VmHWM. The peak is VmHWM when the reset worked (it
 * cannot miss a short spike), else the highest sample.
 */
export async function watchMemory(pid: number): Promise<MemoryWatch> {
  const reset = await resetPeak(pid);
  let sampledPeak = (await treeMemory(pid)).rss;
  let running = true;
  const sampler = (async () => {
    while (running) {
      await new Promise((resolve) => setTimeout(resolve, SAMPLE_INTERVAL_MS));
      sampledPeak = Math.max(sampledPeak, (await treeMemory(pid)).rss);
    }
  })();
  return {
    async stop() {
      running = false;
      await sampler;
      const { rss, hwm } = await treeMemory(pid);
      sampledPeak = Math.max(sampledPeak, rss);
      return {
        peakBytes: reset ? Math.max(hwm, sampledPeak) : sampledPeak,
        sampledPeakBytes: sampledPeak,
        fromHwm: reset,
      };
    },
  };
}

/**
 * Waits until the tree uses less than `idleShare` of one core over `windowMs`, at most `maxMs`.
 * A server can keep working after wrk stopped (responses wrk gave up on, background work), and
 * that work must not be billed to the next point. Returns the seconds it stayed busy.
 */
export async function waitUntilIdle(
  pid: number,
  options: { windowMs?: number; idleShare?: number; maxMs?: number } = {},
): Promise<{ busySeconds: number; settled: boolean }> {
  const windowMs = options.windowMs ?? 1000;
  const idleShare = options.idleShare ?? 0.1;
  const maxMs = options.maxMs ?? 120_000;
  const started = performance.now();
  let before = await treeCpuSeconds(pid);
  while (true) {
    await new Promise((resolve) => setTimeout(resolve, windowMs));
    const now = await treeCpuSeconds(pid);
    const elapsed = performance.now() - started;
    if (now - before < idleShare * windowMs / 1000) {
      return { busySeconds: Math.max(0, elapsed - windowMs) / 1000, settled: true };
    }
    if (elapsed >= maxMs) return { busySeconds: elapsed / 1000, settled: false };
    before = now;
  }
}
