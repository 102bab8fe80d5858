// The three client workloads behind one small interface, so main.ts runs the same rounds (public;
// vm pkg and the workload's peers, each cold and warm; fresh client caches every run) for each.
import { CARGO_DEPENDENCIES, cargoFetchOnce, cargoVersion } from "./cargo_fetch.ts";
import { GO_REQUIREMENTS, goDownloadOnce, goVersion } from "./go_download.ts";
import { DEPENDENCIES, installOnce, NPM_FLAGS, npmVersions } from "./npm_install.ts";
import { PIP_FLAGS, PIP_REQUIREMENTS, pipInstallOnce, pipVersions } from "./pip_install.ts";
import type { PeerName } from "./contenders.ts";
import {
  type BenchServer,
  type Ecosystem,
  PUBLIC_GOPROXY,
  PUBLIC_NPM,
  PUBLIC_PYPI_INDEX,
} from "./registry_server.ts";

export const WORKLOAD_NAMES = ["npm", "pip", "cargo", "go"] as const;
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
  /** The caching registries of other projects this client is also measured through. */
  readonly peers: readonly PeerName[];
  /** Column titles for the entries of `ClientRun.phases`. */
  readonly phaseLabels: Readonly<Record<string, string>>;
  /** The pinned input and the flags, for the report. */
  readonly method: Readonly<Record<string, unknown>>;
  /** A short description of the input, e.g. "8 pinned direct dependencies, no lockfile". */
  readonly input: string;
  /** Tool versions, for the report. */
  versions(): Promise<Record<string, string>>;
  /** What this client is given to use a `vm pkg` server. */
  vmClientUrl(server: BenchServer): string;
  /**
   * One run in the fresh directory `dir` from `registry` (what `vmClientUrl` or a peer's
   * `clientUrl` gives) or, when undefined, from the public registry.
   */
  run(registry: string | undefined, dir: string, signal: AbortSignal): Promise<ClientRun>;
}

const npm: Workload = {
  name: "npm",
  ecosystem: "npm",
  action: "npm install",
  unit: "packages",
  publicRegistry: `${PUBLIC_NPM}/`,
  peers: ["verdaccio"],
  phaseLabels: { resolveSeconds: "resolve", fetchExtractSeconds: "fetch+extract" },
  method: { dependencies: DEPENDENCIES, npmFlags: NPM_FLAGS, lockfile: "none" },
  input: `${Object.keys(DEPENDENCIES).length} pinned direct dependencies, no lockfile`,
  versions: npmVersions,
  vmClientUrl: (server) => server.npmUrl,
  async run(registry, dir, signal) {
    const install = await installOnce(registry ?? `${PUBLIC_NPM}/`, dir, signal);
    return { seconds: install.seconds, phases: { ...install.phases }, tree: install.tree };
  },
};

const pip: Workload = {
  name: "pip",
  ecosystem: "pypi",
  action: "pip install",
  unit: "distributions",
  publicRegistry: `${PUBLIC_PYPI_INDEX}/`,
  peers: ["devpi"],
  phaseLabels: {},
  method: { requirements: PIP_REQUIREMENTS, pipFlags: PIP_FLAGS, venv: "fresh per run" },
  input: `${PIP_REQUIREMENTS.length} pinned requirements, fresh venv, no cache`,
  versions: pipVersions,
  vmClientUrl: (server) => server.pypiIndexUrl,
  async run(registry, dir, signal) {
    const install = await pipInstallOnce(registry ?? `${PUBLIC_PYPI_INDEX}/`, dir, signal);
    return { seconds: install.seconds, phases: {}, tree: install.tree };
  },
};

const cargo: Workload = {
  name: "cargo",
  ecosystem: "cargo",
  action: "cargo fetch",
  unit: "crates",
  publicRegistry: "crates.io (sparse index)",
  // No caching peer set up (see bench/README.md): the one small on-demand proxy found on crates.io,
  // crates-io-proxy, would be compiled here with `cargo install`, and it fetches .crate files
  // through the crates.io API, which is rate-limited and not meant for downloads.
  peers: [],
  phaseLabels: {},
  method: { dependencies: CARGO_DEPENDENCIES, cargoHome: "fresh, empty per run", lockfile: "none" },
  input: `${Object.keys(CARGO_DEPENDENCIES).length} pinned direct dependencies, ` +
    "empty CARGO_HOME, no lockfile",
  versions: async () => ({ cargo: await cargoVersion() }),
  vmClientUrl: (server) => server.url,
  async run(registry, dir, signal) {
    const fetch = await cargoFetchOnce(registry, dir, signal);
    return { seconds: fetch.seconds, phases: {}, tree: fetch.tree };
  },
};

const go: Workload = {
  name: "go",
  ecosystem: "go",
  action: "go mod download all",
  unit: "modules",
  publicRegistry: PUBLIC_GOPROXY,
  // Athens, the one caching GOPROXY peer, is not set up here (see bench/README.md).
  peers: [],
  phaseLabels: {},
  method: { requirements: GO_REQUIREMENTS, gomodcache: "fresh, empty per run", goSum: "none" },
  input: `${Object.keys(GO_REQUIREMENTS).length} pinned requirements, empty GOMODCACHE, ` +
    "no go.sum, GOSUMDB through the proxy",
  versions: async () => ({ go: await goVersion() }),
  vmClientUrl: (server) => `${server.url}/go`,
  async run(registry, dir, signal) {
    const download = await goDownloadOnce(registry, dir, signal);
    return { seconds: download.seconds, phases: {}, tree: download.tree };
  },
};

export const WORKLOADS: Readonly<Record<WorkloadName, Workload>> = { npm, pip, cargo, go };
