// The client configuration `vm pkg start` writes into the project in the current directory, and
// `vm pkg stop` takes out again. Only project-level files, and only for the ecosystems the project
// uses: each ecosystem's descriptor says which files, when (package.json, Cargo.toml, a Python
// project…) and what makes a file off limits (`clients.projectFiles`). Each file gets one marked
// block, so the user's own settings around it stay as they are and removing it restores the file
// exactly. A file that already makes its own choice (its own `registry=`, its own
// `[source.crates-io]`, an index in uv.toml…) is left alone, and so is everything in the home
// directory, where these files are the user's global ones.
import { dirname, resolve } from "node:path";
import {
  type Ecosystem,
  type FileProbe,
  type ProjectFile,
  registryAddress,
} from "../registry/ecosystem.ts";
import { ECOSYSTEMS } from "../registry/ecosystems.ts";

const BEGIN = "# >>> vm pkg: written by `vm pkg start`, removed by `vm pkg stop` >>>";
const END = "# <<< vm pkg <<<";

export interface ConfigFileChange {
  path: string;
  action: "written" | "removed" | "skipped";
  reason?: string;
}

/** What the descriptors may look at: whether a file is there, and its text. */
const PROBE: FileProbe = { exists, readText };

export async function writeProjectConfig(
  projectDir: string,
  baseUrl: string,
  home = Deno.env.get("HOME"),
  ecosystems: readonly Ecosystem[] = ECOSYSTEMS,
): Promise<ConfigFileChange[]> {
  const dir = resolve(projectDir);
  if (home && dir === resolve(home)) {
    return [{
      path: dir,
      action: "skipped",
      reason: "files in the home directory are user-global; use `vm pkg use` instead",
    }];
  }
  const registry = registryAddress(baseUrl);
  const changes: ConfigFileChange[] = [];
  for (const ecosystem of ecosystems) {
    for (const target of await ecosystem.clients.projectFiles?.(dir, registry, PROBE) ?? []) {
      changes.push(await writeBlock(target));
    }
  }
  return changes;
}

/** Takes the marked blocks out of every file that has one; files left empty are deleted. */
export async function removeProjectConfig(
  projectDir: string,
  ecosystems: readonly Ecosystem[] = ECOSYSTEMS,
): Promise<ConfigFileChange[]> {
  const dir = resolve(projectDir);
  const paths: string[] = [];
  for (const ecosystem of ecosystems) {
    paths.push(...await ecosystem.clients.projectFilePaths?.(dir, PROBE) ?? []);
  }
  const changes: ConfigFileChange[] = [];
  for (const path of paths) {
    const text = await readText(path);
    if (text === undefined || !text.includes(BEGIN)) continue;
    const rest = withoutBlock(text);
    if (rest.trim() === "") {
      await Deno.remove(path);
      // A folder made for the file (.cargo/) goes with it when nothing else is in it.
      if (dirname(path) !== dir) await Deno.remove(dirname(path)).catch(() => {});
    } else {
      await writeAtomically(path, rest);
    }
    changes.push({ path, action: "removed" });
  }
  return changes;
}

async function writeBlock(target: ProjectFile): Promise<ConfigFileChange> {
  if ("leftAlone" in target) {
    return { path: target.path, action: "skipped", reason: target.leftAlone };
  }
  const current = await readText(target.path) ?? "";
  const others = withoutBlock(current);
  const reason = target.conflict?.(others);
  if (reason) return { path: target.path, action: "skipped", reason };
  // One blank line before our block; removing it takes exactly that line back out.
  const separator = others === "" ? "" : others.endsWith("\n") ? "\n" : "\n\n";
  const next = `${others}${separator}${BEGIN}\n${target.block}${END}\n`;
  if (next !== current) {
    await Deno.mkdir(dirname(target.path), { recursive: true });
    await writeAtomically(target.path, next);
  }
  return { path: target.path, action: "written" };
}

/** The text with our block (and the blank line we put before it) taken out. */
function withoutBlock(text: string): string {
  const start = text.indexOf(BEGIN);
  if (start < 0) return text;
  const endMarker = text.indexOf(END, start);
  const end = endMarker < 0 ? text.length : endMarker + END.length + 1;
  const before = text.slice(0, start).replace(/\n\n$/, "\n");
  return before + text.slice(Math.min(end, text.length));
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

async function writeAtomically(path: string, text: string): Promise<void> {
  const temp = `${path}.vm-pkg-${Deno.pid}.tmp`;
  await Deno.writeTextFile(temp, text);
  await Deno.rename(temp, path);
}

/** Remembers a configured project in the data dir, so `vm pkg stop` can clean it up. */
export async function rememberProject(listFile: string, projectDir: string): Promise<void> {
  const projects = await configuredProjects(listFile);
  const dir = resolve(projectDir);
  if (projects.includes(dir)) return;
  await Deno.mkdir(dirname(listFile), { recursive: true });
  await writeAtomically(listFile, JSON.stringify([...projects, dir], null, 2) + "\n");
}

/** Takes the configuration out of every remembered project and forgets them. */
export async function unconfigureProjects(listFile: string): Promise<ConfigFileChange[]> {
  const changes: ConfigFileChange[] = [];
  for (const dir of await configuredProjects(listFile)) {
    changes.push(...await removeProjectConfig(dir).catch(() => []));
  }
  await Deno.remove(listFile).catch(() => {});
  return changes;
}

export async function configuredProjectDirs(listFile: string): Promise<string[]> {
  return await configuredProjects(listFile);
}

async function configuredProjects(listFile: string): Promise<string[]> {
  try {
    const list = JSON.parse(await Deno.readTextFile(listFile));
    return Array.isArray(list) ? list.filter((item) => typeof item === "string") : [];
  } catch {
    return [];
  }
}
