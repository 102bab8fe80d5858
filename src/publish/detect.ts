// Which ecosystems a project directory can be published to, from the files present, and the
// build and upload functions of each. `vm pkg add` asks when several match.
import { buildCargo, isCargoProject, uploadCargo } from "./cargo.ts";
import { buildNpm, isNpmProject, uploadNpm } from "./npm.ts";
import { buildPypi, isPypiProject, uploadPypi } from "./pypi.ts";
import type { BuiltPackage, PackageType, UploadOptions } from "./types.ts";

export interface Publisher {
  type: PackageType;
  /** What marks a project of this type, for messages. */
  marker: string;
  /** The tool that builds it, for messages. */
  tool: string;
  detect(dir: string): Promise<boolean>;
  build(dir: string): Promise<BuiltPackage>;
  upload(built: BuiltPackage, options: UploadOptions): Promise<void>;
}

export const PUBLISHERS: Record<PackageType, Publisher> = {
  npm: {
    type: "npm",
    marker: "package.json",
    tool: "npm pack",
    detect: isNpmProject,
    build: buildNpm,
    upload: uploadNpm,
  },
  pypi: {
    type: "pypi",
    marker: "pyproject.toml, setup.py or setup.cfg",
    tool: "python -m build / pip wheel",
    detect: isPypiProject,
    build: buildPypi,
    upload: uploadPypi,
  },
  cargo: {
    type: "cargo",
    marker: "Cargo.toml",
    tool: "cargo package",
    detect: isCargoProject,
    build: (dir) => buildCargo(dir),
    upload: uploadCargo,
  },
};

/** The package types whose marker files are in `dir`. */
export async function detectTypes(dir: string): Promise<PackageType[]> {
  const found: PackageType[] = [];
  for (const publisher of Object.values(PUBLISHERS)) {
    if (await publisher.detect(dir)) found.push(publisher.type);
  }
  return found;
}

/** `--type` values: `pip` is accepted for PyPI since that is what people type. */
export function parsePackageType(value: string): PackageType | undefined {
  const aliases: Record<string, PackageType> = {
    npm: "npm",
    pip: "pypi",
    pypi: "pypi",
    python: "pypi",
    cargo: "cargo",
    crate: "cargo",
    rust: "cargo",
  };
  return aliases[value.toLowerCase()];
}
