// The client configuration `vm pkg start` writes into the project in the current directory, and
// `vm pkg stop` takes out again. Only project-level files, and only for the ecosystems the project
// uses; each file gets one marked block, so the user's own settings around it stay as they are
// and removing it restores the file exactly:
//   .npmrc               registry=…/npm/                      (package.json present)
//   .cargo/config.toml   crates.io replaced by the registry    (Cargo.toml present)
//   uv.toml              the registry as uv's default index    (a Python project)
//   <venv>/pip.conf      index-url for the project's venv     (.venv/ or venv/ with pyvenv.cfg)
// pip has no project-level file; a venv's own pip.conf is the closest, and is read by the pip of
// that venv only. A file that already makes its own choice (its own `registry=`, its own
// `[source.crates-io]`, an index in uv.toml, `[tool.uv]` in pyproject.toml) is left alone, and
// so is everything in the home directory, where these files are the user's global ones.
import { dirname, join, resolve } from "node:path";
import { cargoConfigToml } from "../registry/cargo/client_config.ts";
import { npmRegistryUrl, pypiIndexUrl } from "./routing.ts";

const BEGIN = "# >>> vm pkg: written by `vm pkg start`, removed by `vm pkg stop` >>>";
const END = "# <<< vm pkg <<<";

export interface ConfigFileChange {
  path: string;
  action: "written" | "removed" | "skipped";
  reason?: string;
}

interface Target {
  path: string;
  block: string;
  /** Why the file must not be touched, judged on its content outside our block. */
  conflict?: (others: string) => string | undefined;
}

export async function writeProjectConfig(
  projectDir: string,
  baseUrl: string,
  home = Deno.env.get("HOME"),
): Promise<ConfigFileChange[]> {
  const dir = resolve(projectDir);
  if (home && dir === resolve(home)) {
    return [{
      path: dir,
      action: "skipped",
      reason: "files in the home directory are user-global; use `vm pkg use` instead",
    }];
  }
  const changes: ConfigFileChange[] = [];
  for (const target of await targetsFor(dir, baseUrl)) {
    changes.push(await writeBlock(target));
  }
  return changes;
}

/** Takes the marked blocks out of every file that has one; files left empty are deleted. */
export async function removeProjectConfig(projectDir: string): Promise<ConfigFileChange[]> {
  const dir = resolve(projectDir);
  const paths = [
    join(dir, ".npmrc"),
    join(dir, ".cargo", "config.toml"),
    join(dir, "uv.toml"),
    ...(await venvDirs(dir)).map((venv) => join(venv, "pip.conf")),
  ];
  const changes: ConfigFileChange[] = [];
  for (const path of paths) {
    const text = await readText(path);
    if (text === undefined || !text.includes(BEGIN)) continue;
    const rest = withoutBlock(text);
    if (rest.trim() === "") {
      await Deno.remove(path);
      if (path.endsWith(join(".cargo", "config.toml"))) {
        await Deno.remove(dirname(path)).catch(() => {}); // only if empty
      }
    } else {
      await writeAtomically(path, rest);
    }
    changes.push({ path, action: "removed" });
  }
  return changes;
}

async function targetsFor(dir: string, baseUrl: string): Promise<Target[]> {
  const has = (name: string) => exists(join(dir, name));
  const targets: Target[] = [];
  if (await has("package.json")) {
    targets.push({
      path: join(dir, ".npmrc"),
      block: `registry=${npmRegistryUrl(baseUrl)}\n`,
      conflict: (others) =>
        /^\s*registry\s*=/m.test(others) ? "it sets its own registry" : undefined,
    });
  }
  if (await has("Cargo.toml")) {
    targets.push({
      path: join(dir, ".cargo", "config.toml"),
      block: cargoConfigToml(baseUrl).split("\n").filter((line) => !line.startsWith("#"))
        .join("\n").trim() + "\n",
      conflict: (others) =>
        /^\s*\[source\.(crates-io|vm)\]/m.test(others) ? "it replaces crates.io itself" : undefined,
    });
  }
  const python = (await Promise.all(
    ["pyproject.toml", "setup.py", "setup.cfg", "requirements.txt"].map(has),
  )).some(Boolean);
  if (python) {
    const pyproject = await readText(join(dir, "pyproject.toml")) ?? "";
    targets.push({
      path: join(dir, "uv.toml"),
      block: `[[index]]\nurl = "${pypiIndexUrl(baseUrl)}"\ndefault = true\n`,
      conflict: (others) => {
        if (/^\s*(\[\[index\]\]|index-url\s*=|extra-index-url\s*=)/m.test(others)) {
          return "it names its own index";
        }
        // uv reads uv.toml instead of [tool.uv]: a new uv.toml would silently drop those settings.
        if (others.trim() === "" && /^\s*\[tool\.uv(\.|\])/m.test(pyproject)) {
          return "pyproject.toml has [tool.uv], which a uv.toml would override";
        }
        return undefined;
      },
    });
    for (const venv of await venvDirs(dir)) {
      targets.push({
        path: join(venv, "pip.conf"),
        block: `[global]\nindex-url = ${pypiIndexUrl(baseUrl)}\n`,
        conflict: (others) =>
          /^\s*\[global\]/m.test(others) ? "it has its own [global] section" : undefined,
      });
    }
  }
  return targets;
}

async function writeBlock(target: Target): Promise<ConfigFileChange> {
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

async function venvDirs(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const name of [".venv", "venv"]) {
    if (await exists(join(dir, name, "pyvenv.cfg"))) found.push(join(dir, name));
  }
  return found;
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
