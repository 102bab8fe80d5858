// What every server under test needs, whatever it is written in: a child process whose output
// goes to a log file, a wait until it answers, a clean stop, and its CPU time and memory from
// /proc (Linux only; elsewhere those figures are simply unknown).

const STOP_TIMEOUT_MS = 30_000;
/** USER_HZ, which Linux fixes at 100 for /proc on every architecture Deno runs on. */
const CLOCK_TICKS_PER_SECOND = 100;

/** A started server process and the copy of its stdout and stderr into `logFile`. */
export class LoggedProcess {
  #exited = false;

  private constructor(
    readonly child: Deno.ChildProcess,
    readonly logFile: string,
    private readonly logWritten: Promise<void>,
  ) {
    child.status.then(() => this.#exited = true);
  }

  /** Spawns `command` with stdin closed and both output streams appended to `logFile`. */
  static spawn(
    command: string,
    args: string[],
    logFile: string,
    options: { cwd?: string; env?: Record<string, string>; clearEnv?: boolean } = {},
  ): LoggedProcess {
    const child = new Deno.Command(command, {
      args,
      cwd: options.cwd,
      env: options.env,
      clearEnv: options.clearEnv,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    return new LoggedProcess(child, logFile, copyOutput(child, logFile));
  }

  get pid(): number {
    return this.child.pid;
  }

  get exited(): boolean {
    return this.#exited;
  }

  /**
   * Polls `url` until it answers with a 2xx status. Fails with one line (and the log's tail) when
   * the process exits first or `timeoutMs` passes.
   */
  async waitUntilAnswers(url: string, what: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.#exited) {
        throw new Error(`${what} exited at start; ${this.logFile} ends with:\n${await this
          .logTail()}`);
      }
      try {
        const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
        await response.body?.cancel();
        if (response.ok) return;
      } catch {
        // Not listening yet.
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(
      `${what} did not answer ${url} within ${timeoutMs / 1000}s; ${this.logFile} ends with:\n` +
        await this.logTail(),
    );
  }

  /** SIGTERM (servers drain or exit), SIGKILL if that takes too long. */
  async stop(timeoutMs = STOP_TIMEOUT_MS): Promise<void> {
    await stopChild(this.child, timeoutMs);
    await this.logWritten.catch(() => {});
  }

  /** The last lines of the log, indented, for error messages. */
  async logTail(lines = 15): Promise<string> {
    if (this.#exited) await this.logWritten.catch(() => {});
    const text = await Deno.readTextFile(this.logFile).catch(() => "");
    return text.trim().split("\n").slice(-lines).map((line) => `  ${line}`).join("\n");
  }
}

/**
 * Copies the child's stdout and stderr into one log file as they arrive, so the log can be read
 * while the server runs. (Writes through `file.writable` only reached the file at close.)
 */
export async function copyOutput(child: Deno.ChildProcess, logFile: string): Promise<void> {
  const file = await Deno.open(logFile, { write: true, create: true, truncate: true });
  // One chain of writes for both streams: each chunk is written whole, in arrival order.
  let written = Promise.resolve();
  const writeAll = async (chunk: Uint8Array) => {
    for (let offset = 0; offset < chunk.byteLength;) {
      offset += await file.write(chunk.subarray(offset));
    }
  };
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) await (written = written.then(() => writeAll(chunk)));
  };
  try {
    await Promise.all([pump(child.stdout), pump(child.stderr)]);
  } finally {
    await written.catch(() => {});
    file.close();
  }
}

/** A loopback port that was free a moment ago (the server binds it right after). */
export function freeLoopbackPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** CPU seconds (user + system) process `pid` has used so far, from /proc/<pid>/stat. */
export async function processCpuSeconds(pid: number): Promise<number | undefined> {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    // Fields after the parenthesized command name; utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/**
 * Resets the peak resident set size (VmHWM) of `pid` to its current size (`5` into
 * /proc/<pid>/clear_refs), so that the peak read after a run is the peak of that run only.
 * Returns false when the kernel does not allow it: the peak then counts from the process's start.
 */
export async function resetPeakRss(pid: number): Promise<boolean> {
  try {
    await Deno.writeTextFile(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

/** The peak resident set size (VmHWM) of `pid` in bytes, from /proc/<pid>/status. */
export async function peakRssBytes(pid: number): Promise<number | undefined> {
  try {
    const status = await Deno.readTextFile(`/proc/${pid}/status`);
    const kib = status.match(/^VmHWM:\s+(\d+) kB$/m)?.[1];
    return kib === undefined ? undefined : Number(kib) * 1024;
  } catch {
    return undefined;
  }
}

/** Runs a setup command to completion; on failure, one line plus the output's tail. */
export async function runSetup(
  what: string,
  command: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; clearEnv?: boolean } = {},
): Promise<string> {
  const output = await new Deno.Command(command, {
    args,
    cwd: options.cwd,
    env: options.env,
    clearEnv: options.clearEnv,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output().catch((error: Error) => {
    throw new Error(`${what} failed: cannot run ${command}: ${error.message}`);
  });
  const text = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
  if (!output.success) {
    const tail = text.trim().split("\n").slice(-15).map((line) => `  ${line}`).join("\n");
    throw new Error(`${what} failed (exit ${output.code}):\n${tail}`);
  }
  return text;
}

/** Removes a file or directory tree, ignoring one that is not there. */
export async function removeTree(path: string): Promise<void> {
  await Deno.remove(path, { recursive: true }).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
}

/** SIGTERM, then SIGKILL when the process has not exited within `timeoutMs`. */
export async function stopChild(child: Deno.ChildProcess, timeoutMs: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), timeoutMs);
  });
  try {
    child.kill("SIGTERM");
    if (await Promise.race([child.status, timedOut]) === "timeout") {
      child.kill("SIGKILL");
      await child.status;
    }
  } catch {
    // Already exited.
  } finally {
    clearTimeout(timer);
  }
}
