// The three client workloads behind one small interface, so main.ts runs the same rounds (public,
// cold, warm; fresh client caches every run) for each of them.
import { CARGO_DEPENDENCIES, cargoFetchOnce, cargoVersion } from "./cargo_fetch.ts";
import { DEPENDENCIES, installOnce, NPM_FLAGS, npmVersions } from "./npm_install.ts";
import { PIP_FLAGS, PIP_REQUIREMENTS, pipInstallOnce, pipVersions } from "./pip_install.ts";
import {
  type BenchServer,
  type Ecosystem,
  PUBLIC_NPM,
  PUBLIC_PYPI_INDEX,
} from "./registry_server.ts";

export const WORKLOAD_NAMES = ["npm", "pip", "cargo"] as const;
export type WorkloadName = typeof WORKLOAD_NAMES[number];

/** One measured client run. */
export interface ClientRun {
  /** Wall time of the client process only (setup such as making a venv is not timed). */
  seconds: number;
  /** The client's own phase timings, when it reports them (npm), keyed as in `phaseLabels`. */
  phases: Record<string, number>;
  /** What was installed, as sorted `name version checksum`-like lines: the tree's fingerprint. */
  tree: string[];
}

export interface Workload {
  readonly name: WorkloadName;
  /** The key of this client's counters in the server's `GET /-/status`. */
  readonly ecosystem: Ecosystem;
  /** What one run is, e.g. "npm install of 248 packages": the count is filled in afterwards. */
  readonly action: string;
  /** What the count in a tree is: packages, distributions, crates. */
  readonly unit: string;
  /** The public registry the client uses in the `public` way. */
  readonly publicRegistry: string;
  /** Column titles for the entries of `ClientRun.phases`. */
  readonly phaseLabels: Readonly<Record<string, string>>;
  /** The pinned input and the flags, for the report. */
  readonly method: Readonly<Record<string, unknown>>;
  /** A short description of the input, e.g. "8 pinned direct dependencies, no lockfile". */
  readonly input: string;
  /** Tool versions, for the report. */
  versions(): Promise<Record<string, string>>;
  /** One run in the fresh directory `dir`, from `server` or, without one, the public registry. */
  run(server: BenchServer | undefined, dir: string, signal: AbortSignal): Promise<ClientRun>;
}

const npm: Workload = {
  name: "npm",
  ecosystem: "npm",
  action: "npm install",
  unit: "packages",
  publicRegistry: `${PUBLIC_NPM}/`,
  phaseLabels: { resolveSeconds: "resolve", fetchExtractSeconds: "fetch+extract" },
  method: { dependencies: DEPENDENCIES, npmFlags: NPM_FLAGS, lockfile: "none" },
  input: `${Object.keys(DEPENDENCIES).length} pinned direct dependencies, no lockfile`,
  versions: npmVersions,
  async run(server, dir, signal) {
    const install = await installOnce(server?.npmUrl ?? `${PUBLIC_NPM}/`, dir, signal);
    return { seconds: install.seconds, phases: { ...install.phases }, tree: install.tree };
  },
};

const pip: Workload = {
  name: "pip",
  ecosystem: "pypi",
  action: "pip install",
  unit: "distributions",
  publicRegistry: `${PUBLIC_PYPI_INDEX}/`,
  phaseLabels: {},
  method: { requirements: PIP_REQUIREMENTS, pipFlags: PIP_FLAGS, venv: "fresh per run" },
  input: `${PIP_REQUIREMENTS.length} pinned requirements, fresh venv, no cache`,
  versions: pipVersions,
  async run(server, dir, signal) {
    const install = await pipInstallOnce(
      server?.pypiIndexUrl ?? `${PUBLIC_PYPI_INDEX}/`,
      dir,
      signal,
    );
    return { seconds: install.seconds, phases: {}, tree: install.tree };
  },
};

const cargo: Workload = {
  name: "cargo",
  ecosystem: "cargo",
  action: "cargo fetch",
  unit: "crates",
  publicRegistry: "crates.io (sparse index)",
  phaseLabels: {},
  method: { dependencies: CARGO_DEPENDENCIES, cargoHome: "fresh, empty per run", lockfile: "none" },
  input: `${Object.keys(CARGO_DEPENDENCIES).length} pinned direct dependencies, ` +
    "empty CARGO_HOME, no lockfile",
  versions: async () => ({ cargo: await cargoVersion() }),
  async run(server, dir, signal) {
    const fetch = await cargoFetchOnce(server?.url, dir, signal);
    return { seconds: fetch.seconds, phases: {}, tree: fetch.tree };
  },
};

export const WORKLOADS: Readonly<Record<WorkloadName, Workload>> = { npm, pip, cargo };
