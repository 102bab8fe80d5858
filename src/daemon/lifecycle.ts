// Starting the registry in the foreground or as a background process, and stopping it.
import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { dataLayout } from "../store/data_dir.ts";
import { consoleLogger } from "../registry/logger.ts";
import { type RegistryOptions, startRegistry } from "../registry/server.ts";
import { VERSION } from "../version.ts";
import { unconfigureProjects } from "../clients/project_config.ts";
import { selfCommand } from "./self_command.ts";
import { dropPermissionsAfterStart } from "./server_sandbox.ts";
import { type ContainerAdvertisement, stopRegistryContainer } from "./registry_container.ts";
import {
  findServer,
  isProcessAlive,
  removeServerRecord,
  type ServerRecord,
  writeServerRecord,
} from "./server_record.ts";

export interface ForegroundOptions extends RegistryOptions {
  logRequests: boolean;
  /**
   * Called once the server listens, with the record it is about to write; awaited, since it runs
   * before the permissions the server no longer needs are dropped (it may read the environment).
   */
  onReady?(record: ServerRecord): void | Promise<void>;
  /**
   * How the host reaches a server that runs in a container (`vm pkg start --docker`): the record
   * must carry the host's URL and the container's name, not what the server sees inside.
   */
  advertise?: ContainerAdvertisement;
}

/** Runs the registry in this process until SIGINT/SIGTERM, then shuts it down gracefully. */
export async function runForeground(options: ForegroundOptions): Promise<void> {
  const log = consoleLogger({ requests: options.logRequests });
  const registry = await startRegistry({ ...options, logger: log });
  const signals = new StopSignals();
  const stop = (signal: string) => {
    switch (signals.receive(Date.now())) {
      case "stop":
        log.info(`${signal} received: finishing in-flight requests and downloads (again to force)`);
        void registry.shutdown();
        return;
      case "force":
        // A second, separate Ctrl-C means "now": temp files are discarded at the next start.
        log.warn(`${signal} again: exiting without waiting`);
        Deno.exit(130);
        return;
      case "same":
        return;
    }
  };
  // Installed as soon as the server exists (a stop may come while the project is configured
  // below), and they stay until the process ends: one removed too early would let a late copy of
  // the signal kill the process (the default action) while responses are still streaming.
  for (const signal of STOP_SIGNALS) Deno.addSignalListener(signal, () => stop(signal));
  const record: ServerRecord = {
    pid: Deno.pid,
    url: registry.url,
    hostname: registry.hostname,
    port: registry.port,
    addresses: registry.addresses,
    ...options.advertise,
    startedAt: new Date().toISOString(),
    version: VERSION,
  };
  // In a container, every interface is the container's own; Docker publishes chosen ports.
  if (!options.advertise && (registry.hostname === "0.0.0.0" || registry.hostname === "::")) {
    log.warn(
      `listening on ALL interfaces (${registry.hostname}): anyone who can reach this host can use the registry`,
    );
  }
  log.info(`vm pkg ${VERSION} listening on ${registry.url} (data: ${options.dataDir})`);
  if (registry.addresses.length > 1) {
    log.info(`also listening on ${registry.addresses.slice(1).join(", ")} (for containers)`);
  }
  await options.onReady?.(record);
  // From here on the server only serves: no programs, environment or system information. The
  // record comes after, so a server the CLI sees running holds no more than that.
  log.info(await dropPermissionsAfterStart());
  await writeServerRecord(options.dataDir, record);

  try {
    await registry.finished;
  } finally {
    await removeServerRecord(options.dataDir, Deno.pid);
    // Projects must not keep pointing at a registry that is gone. Their files lie outside the
    // data dir: a server vm started may write only there (and one in a container does not see
    // the host's projects), so `vm pkg stop` takes them out once it has stopped; it also does for
    // a server that was killed. Only a server run by hand, with write access everywhere, does it
    // itself. Trying without access would forget the projects without cleaning them.
    if (!options.advertise && Deno.permissions.querySync({ name: "write" }).state === "granted") {
      const cleaned = await unconfigureProjects(dataLayout(options.dataDir).projectsFile);
      for (const change of cleaned) log.info(`removed the vm pkg block from ${change.path}`);
    }
    log.info("stopped");
  }
}

const STOP_SIGNALS: Deno.Signal[] = Deno.build.os === "windows"
  ? ["SIGINT"]
  : ["SIGINT", "SIGTERM"];

/**
 * What a stop signal means: the first stops gracefully; a second one stops at once, unless it came
 * right after the first. One Ctrl-C reaches every process of the terminal's process group, and
 * `deno task` also passes the signal it got on to the server: the same key press arrives twice
 * within milliseconds, and must not cut off the downloads a graceful stop lets finish.
 */
export class StopSignals {
  static readonly SAME_PRESS_MS = 1000;
  #first: number | undefined;

  receive(now: number): "stop" | "same" | "force" {
    if (this.#first === undefined) {
      this.#first = now;
      return "stop";
    }
    return now - this.#first < StopSignals.SAME_PRESS_MS ? "same" : "force";
  }
}

export interface BackgroundStartResult {
  record: ServerRecord;
  logFile: string;
}

/**
 * Re-runs `vm pkg start --foreground` as a detached process whose output goes to server.log,
 * with `permissions` (serverPermissionFlags) when running from source, and waits until it
 * answers on its health endpoint.
 */
export async function startBackground(
  dataDir: string,
  foregroundArgs: string[],
  permissions: readonly string[],
  timeoutMs = 20_000,
): Promise<BackgroundStartResult> {
  const layout = dataLayout(dataDir);
  await Deno.mkdir(dataDir, { recursive: true });
  const logStart = await fileSize(layout.log);
  // The CLI that starts it writes the project's client configuration, not the server.
  const { command, args } = selfCommand(
    ["pkg", "start", "--foreground", "--no-config", ...foregroundArgs],
    permissions,
  );
  const fd = openSync(layout.log, "a");
  let pid: number | undefined;
  try {
    const child = spawn(command, args, { detached: true, stdio: ["ignore", fd, fd] });
    pid = child.pid;
    child.unref();
  } finally {
    closeSync(fd);
  }
  if (pid === undefined) throw new Error(`could not start ${command}`);

  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const found = await findServer(dataDir);
    if (found.state === "running" && found.record.pid === pid) {
      return { record: found.record, logFile: layout.log };
    }
    if (!isProcessAlive(pid)) {
      throw new Error(await lastLogError(layout.log, logStart) ?? "the server exited at start");
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`the server did not answer within ${timeoutMs / 1000}s; see ${layout.log}`);
}

/** Sends SIGTERM and waits for the process to exit; SIGKILL after the timeout. */
export async function stopServer(
  dataDir: string,
  record: ServerRecord,
  timeoutMs: number,
): Promise<"stopped" | "killed"> {
  if (record.container) {
    await stopRegistryContainer(record.container, timeoutMs);
    await removeServerRecord(dataDir, record.pid);
    return "stopped";
  }
  try {
    Deno.kill(record.pid, "SIGTERM");
  } catch {
    // Already gone.
  }
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isProcessAlive(record.pid)) {
      await removeServerRecord(dataDir, record.pid);
      return "stopped";
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  try {
    Deno.kill(record.pid, "SIGKILL");
  } catch {
    // Exited just now.
  }
  await removeServerRecord(dataDir, record.pid);
  return "killed";
}

async function fileSize(path: string): Promise<number> {
  try {
    return (await Deno.stat(path)).size;
  } catch {
    return 0;
  }
}

/** The last error line the child wrote to the log since we started it. */
async function lastLogError(logFile: string, from: number): Promise<string | undefined> {
  try {
    const text = (await Deno.readTextFile(logFile)).slice(from);
    const lines = text.split("\n").map((line) => line.trim()).filter(Boolean);
    const error = lines.reverse().find((line) => /error/i.test(line)) ?? lines[0];
    return error?.replace(/^\S+Z\s+error\s+/, "").replace(/^vm: error: /, "");
  } catch {
    return undefined;
  }
}
