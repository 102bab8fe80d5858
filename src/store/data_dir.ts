// Where `vm` keeps its per-user state. Follows the XDG base directory spec on Linux and the
// platform convention on macOS, so nothing lands in the current directory by accident.
import { join } from "node:path";

export function defaultDataDir(env: (name: string) => string | undefined = Deno.env.get): string {
  const explicit = env("VM_PKG_DATA");
  if (explicit) return explicit;
  const home = env("HOME") ?? env("USERPROFILE") ?? ".";
  if (Deno.build.os === "darwin") {
    return join(home, "Library", "Application Support", "vm", "pkg");
  }
  if (Deno.build.os === "windows") {
    return join(env("LOCALAPPDATA") ?? join(home, "AppData", "Local"), "vm", "pkg");
  }
  const xdg = env("XDG_DATA_HOME");
  return join(xdg && xdg.startsWith("/") ? xdg : join(home, ".local", "share"), "vm", "pkg");
}

/** The files the registry keeps inside its data dir. */
export function dataLayout(dataDir: string) {
  return {
    dataDir,
    blobs: join(dataDir, "blobs"),
    tmp: join(dataDir, "tmp"),
    rendered: join(dataDir, "rendered"),
    kv: join(dataDir, "metadata.kv"),
    serverFile: join(dataDir, "server.json"),
    log: join(dataDir, "server.log"),
    /** The write token (mode 0600). */
    tokenFile: join(dataDir, "token"),
    /** Projects whose client configuration `vm pkg start` wrote (`vm pkg stop` removes it). */
    projectsFile: join(dataDir, "configured-projects.json"),
  };
}

export type DataLayout = ReturnType<typeof dataLayout>;

/**
 * Creates the registry's data dir, or tightens one made before: the directory is the owner's
 * only (0700) and so is every file in it (0600): the KV file records private packages and client
 * addresses, the blobs include private packages. The KV file is created empty at 0600 before
 * Deno KV opens it, so SQLite gives its -wal and -shm files the same mode. A data dir found
 * looser than 0700 (one from an older version) has every file and directory in it tightened once.
 * Returns what could not be tightened (a file system without modes, another owner): the server
 * logs it and runs.
 */
export async function secureDataDir(dataDir: string): Promise<string[]> {
  const layout = dataLayout(dataDir);
  await Deno.mkdir(dataDir, { recursive: true, mode: 0o700 });
  if (Deno.build.os === "windows") return [];
  const failed: string[] = [];
  const mode = (await Deno.stat(dataDir)).mode;
  const loose = mode !== null && (mode & 0o777) !== 0o700;
  if (loose) await tightenOne(dataDir, 0o700, failed);
  try {
    await Deno.writeFile(layout.kv, new Uint8Array(), { createNew: true, mode: 0o600 });
  } catch (error) {
    if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
  }
  if (loose) {
    await tighten(dataDir, failed);
    return failed;
  }
  // Written by other processes (the CLI that started the server, an older version).
  const files = [
    layout.kv,
    `${layout.kv}-wal`,
    `${layout.kv}-shm`,
    layout.tokenFile,
    layout.serverFile,
    layout.log,
    layout.projectsFile,
  ];
  for (const file of files) await tightenOne(file, 0o600, failed);
  return failed;
}

/** Every file under `dir` 0600, every directory 0700. */
async function tighten(dir: string, failed: string[]): Promise<void> {
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) {
      await tightenOne(path, 0o700, failed);
      await tighten(path, failed);
    } else if (entry.isFile) {
      await tightenOne(path, 0o600, failed);
    }
  }
}

async function tightenOne(path: string, wanted: number, failed: string[]): Promise<void> {
  try {
    const { mode } = await Deno.lstat(path);
    if (mode !== null && (mode & 0o777) !== wanted) await Deno.chmod(path, wanted);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) {
      failed.push(`${path}: ${(error as Error).message}`);
    }
  }
}
