// How pip and uv are pointed at the registry: PIP_INDEX_URL (with PIP_TRUSTED_HOST beyond
// loopback: pip allows plain http without it only there) and UV_DEFAULT_INDEX; pip.conf and
// uv.toml in a VM user's home; uv.toml and a venv's pip.conf in a Python project. Never a public
// `extra-index-url` beside the registry: pip merges indexes and picks the highest version, which
// is dependency confusion.
import { join } from "node:path";
import {
  type ClientCommand,
  type ClientSetup,
  type FileProbe,
  type ProjectFile,
  type RegistryAddress,
  WRITTEN_BY_VM,
} from "../ecosystem.ts";

export const PUBLIC_PYPI_INDEX = "https://pypi.org/simple/";
/** Both run as `python -m pip` / `python3 -m uv` too. */
const INTERPRETERS = ["python", "python3"];

export function pypiIndexUrl(baseUrl: string): string {
  return `${baseUrl.replace(/\/+$/, "")}/pypi/simple/`;
}

const pipLike = (name: string): ClientCommand => ({
  name,
  shellFunction: true,
  moduleOf: INTERPRETERS,
  env: (registry): Record<string, string> =>
    registry.loopback
      ? { PIP_INDEX_URL: pypiIndexUrl(registry.baseUrl) }
      : { PIP_INDEX_URL: pypiIndexUrl(registry.baseUrl), PIP_TRUSTED_HOST: registry.host },
  publicEnv: { PIP_INDEX_URL: PUBLIC_PYPI_INDEX },
});

const uvLike = (name: string, shellFunction: boolean, moduleOf?: string[]): ClientCommand => ({
  name,
  shellFunction,
  moduleOf,
  env: (registry) => ({ UV_DEFAULT_INDEX: pypiIndexUrl(registry.baseUrl) }),
  publicEnv: { UV_DEFAULT_INDEX: PUBLIC_PYPI_INDEX },
});

export const pypiClients: ClientSetup = {
  commands: [
    pipLike("pip"),
    pipLike("pip3"),
    uvLike("uv", true, INTERPRETERS),
    uvLike("uvx", false),
  ],
  userFiles: (registry: RegistryAddress) => {
    const url = pypiIndexUrl(registry.baseUrl);
    return {
      // pip: plain http needs trusted-host for anything but loopback
      ".config/pip/pip.conf":
        `${WRITTEN_BY_VM}\n[global]\nindex-url = ${url}\ntrusted-host = ${registry.host}\n`,
      ".config/uv/uv.toml": `${WRITTEN_BY_VM}\n[[index]]\nurl = "${url}"\ndefault = true\n`,
    };
  },
  projectFiles: async (dir, registry, probe) => {
    const markers = ["pyproject.toml", "setup.py", "setup.cfg", "requirements.txt"];
    const python = (await Promise.all(markers.map((name) => probe.exists(join(dir, name)))))
      .some(Boolean);
    if (!python) return [];
    const url = pypiIndexUrl(registry.baseUrl);
    const pyproject = await probe.readText(join(dir, "pyproject.toml")) ?? "";
    const files: ProjectFile[] = [{
      path: join(dir, "uv.toml"),
      block: `[[index]]\nurl = "${url}"\ndefault = true\n`,
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
    }];
    // pip has no project-level file; a venv's own pip.conf is the closest (its pip reads it).
    for (const venv of await venvDirs(dir, probe)) {
      files.push({
        path: join(venv, "pip.conf"),
        block: `[global]\nindex-url = ${url}\n`,
        conflict: (others) =>
          /^\s*\[global\]/m.test(others) ? "it has its own [global] section" : undefined,
      });
    }
    return files;
  },
  projectFilePaths: async (dir, probe) => [
    join(dir, "uv.toml"),
    ...(await venvDirs(dir, probe)).map((venv) => join(venv, "pip.conf")),
  ],
};

async function venvDirs(dir: string, probe: FileProbe): Promise<string[]> {
  const found: string[] = [];
  for (const name of [".venv", "venv"]) {
    if (await probe.exists(join(dir, name, "pyvenv.cfg"))) found.push(join(dir, name));
  }
  return found;
}
