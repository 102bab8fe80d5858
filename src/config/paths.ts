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
