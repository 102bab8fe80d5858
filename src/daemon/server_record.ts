// The running server writes server.json into its data dir (pid, URL, start time) and removes it
// when it stops. CLI commands find the server through it; a record whose process is gone or that
// does not answer is stale and gets cleaned up.
import { dataLayout } from "../store/data_dir.ts";
import { isContainerRunning } from "./registry_container.ts";

export interface ServerRecord {
  pid: number;
  url: string;
  hostname: string;
  port: number;
  /** Every address it listens on (hostname first); older records lack it. */
  addresses?: string[];
  /** The Docker container it runs in (`vm pkg start --docker`); pid is then the container's. */
  container?: string;
  startedAt: string;
  version: string;
}

export async function readServerRecord(dataDir: string): Promise<ServerRecord | undefined> {
  try {
    const record = JSON.parse(await Deno.readTextFile(dataLayout(dataDir).serverFile));
    if (typeof record?.pid === "number" && typeof record?.url === "string") return record;
  } catch {
    // Missing or unreadable (a crash mid-write cannot happen: it is written by rename).
  }
  return undefined;
}

export async function writeServerRecord(dataDir: string, record: ServerRecord): Promise<void> {
  const path = dataLayout(dataDir).serverFile;
  const temp = `${path}.${Deno.pid}.tmp`;
  // The owner's only, like everything in the data dir.
  await Deno.writeTextFile(temp, JSON.stringify(record, null, 2) + "\n", { mode: 0o600 });
  await Deno.rename(temp, path);
}

/** Removes the record, but only if it still belongs to `pid` (a newer server may own it). */
export async function removeServerRecord(dataDir: string, pid: number): Promise<void> {
  const current = await readServerRecord(dataDir);
  if (current && current.pid !== pid) return;
  await Deno.remove(dataLayout(dataDir).serverFile).catch(() => {});
}

/**
 * Whether `pid` is a live `vm pkg start` process (not a zombie, not a reused pid). Asks `ps`:
 * reading /proc/<pid>/cmdline would need --allow-all in Deno, which `vm` does not run with.
 */
export function isProcessAlive(pid: number): boolean {
  try {
    const output = new Deno.Command("ps", {
      args: ["-o", "stat=", "-o", "args=", "-p", String(pid)],
      stdout: "piped",
      stderr: "null",
    }).outputSync();
    if (!output.success) return false;
    const line = new TextDecoder().decode(output.stdout).trim();
    return !line.startsWith("Z") && / pkg start( |$)/.test(line);
  } catch {
    // No ps on this system: fall back to "the pid exists".
    try {
      return new Deno.Command("kill", { args: ["-0", String(pid)], stderr: "null" }).outputSync()
        .success;
    } catch {
      return false;
    }
  }
}

/** Asks a server for its health; returns the pid it reports, or undefined when it does not answer. */
export async function probeHealth(url: string, timeoutMs = 1000): Promise<number | undefined> {
  try {
    const response = await fetch(`${url}/-/health`, { signal: AbortSignal.timeout(timeoutMs) });
    const body = await response.json();
    return response.ok && typeof body.pid === "number" ? body.pid : undefined;
  } catch {
    return undefined;
  }
}

export type ServerState =
  | { state: "running"; record: ServerRecord }
  | { state: "stopped" }
  | { state: "unresponsive"; record: ServerRecord };

/** Finds the server of a data dir, cleaning up a stale record on the way. */
export async function findServer(dataDir: string): Promise<ServerState> {
  const record = await readServerRecord(dataDir);
  if (!record) return { state: "stopped" };
  if (Deno.permissions.querySync({ name: "run" }).state !== "granted") {
    // The sandboxed server itself (no --allow-run: neither ps nor docker): its answer on the
    // health endpoint is the only sign of life it can see. The CLI that started it has already
    // cleaned up a stale record with ps; what is left is an old container's, or a race.
    if (await probeHealth(record.url) === record.pid) return { state: "running", record };
    await removeServerRecord(dataDir, record.pid);
    return { state: "stopped" };
  }
  const alive = record.container
    ? await isContainerRunning(record.container)
    : isProcessAlive(record.pid);
  if (!alive) {
    await removeServerRecord(dataDir, record.pid);
    return { state: "stopped" };
  }
  const pid = await probeHealth(record.url);
  if (pid === record.pid) return { state: "running", record };
  if (pid === undefined) return { state: "unresponsive", record };
  // Someone else answers on that address: the pid in the record was reused by another process.
  await removeServerRecord(dataDir, record.pid);
  return { state: "stopped" };
}
