// One measured `npm install` of the benchmark project, isolated from everything the machine has:
// a fresh project dir (no node_modules, no lockfile), a fresh empty npm cache, and empty user and
// global npmrc files, so ~/.npmrc and /usr/etc/npmrc cannot change the registry or the flags.
import { join } from "node:path";

/**
 * The direct dependencies, pinned so every run resolves the same tree (248 packages with npm 11).
 * Popular packages of every size: typescript has a 21 MB packument and a large tarball, eslint and
 * webpack bring scoped packages and deep trees, lodash and react are the everyday small ones.
 */
export const DEPENDENCIES: Readonly<Record<string, string>> = {
  axios: "1.7.9",
  eslint: "9.17.0",
  express: "4.21.2",
  lodash: "4.17.21",
  react: "18.3.1",
  "react-dom": "18.3.1",
  typescript: "5.7.3",
  webpack: "5.97.1",
};

/**
 * Identical for every way of installing, so only the registry differs:
 * - --no-audit: the audit call goes to a different service (the npm mirror here answers it 405),
 *   and npm waits for it; it measures neither registry.
 * - --ignore-scripts: install scripts run local builds, and some download binaries from hosts
 *   other than the registry, which the network rule forbids and which no registry speeds up.
 * - --no-fund, --no-update-notifier: no extra requests or output.
 * - --timing: npm logs how long each phase took, which splits an install into resolution
 *   (packuments) and fetch + extract (tarballs); it costs the same in every way.
 * No --prefer-online: with an empty cache there is nothing to revalidate, and npm's normal
 * behaviour (reuse what it fetched earlier in the same install) is what users get.
 */
export const NPM_FLAGS = [
  "--no-audit",
  "--ignore-scripts",
  "--no-fund",
  "--no-update-notifier",
  "--timing",
  "--loglevel=warn",
];

export interface InstallResult {
  seconds: number;
  /** npm's own phase timings: resolving the tree (packuments) and fetch + extract (tarballs). */
  phases: NpmPhases;
  /** Every installed package as `path name@version integrity`, sorted: the tree's fingerprint. */
  tree: string[];
}

export class InstallError extends Error {}

/**
 * Runs one install from `registry` inside `workDir` (created here, removed by the caller).
 * Aborting `signal` kills npm, so an interrupted benchmark leaves no npm writing into its files.
 */
export async function installOnce(
  registry: string,
  workDir: string,
  signal?: AbortSignal,
): Promise<InstallResult> {
  const project = join(workDir, "project");
  const cache = join(workDir, "npm-cache");
  const userconfig = join(workDir, "user-npmrc");
  const globalconfig = join(workDir, "global-npmrc");
  await Deno.mkdir(project, { recursive: true });
  // npm refuses to load one file as both user and global config, hence two empty files.
  await Deno.writeTextFile(userconfig, "");
  await Deno.writeTextFile(globalconfig, "");
  await Deno.writeTextFile(
    join(project, "package.json"),
    JSON.stringify({
      name: "vm-bench",
      version: "1.0.0",
      private: true,
      dependencies: DEPENDENCIES,
    }),
  );

  const command = new Deno.Command("npm", {
    args: [
      "install",
      `--registry=${registry}`,
      `--cache=${cache}`,
      `--userconfig=${userconfig}`,
      ...NPM_FLAGS,
    ],
    cwd: project,
    env: { ...npmFreeEnv(), NPM_CONFIG_GLOBALCONFIG: globalconfig },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal,
  });
  const started = performance.now();
  const output = await command.output();
  const seconds = (performance.now() - started) / 1000;
  if (!output.success) {
    const stderr = new TextDecoder().decode(output.stderr).trim().split("\n").slice(-15);
    throw new InstallError(
      `npm install from ${registry} failed (exit ${output.code}):\n  ${stderr.join("\n  ")}`,
    );
  }
  return { seconds, phases: await npmPhases(cache), tree: await lockedTree(project) };
}

export interface NpmPhases {
  resolveSeconds: number;
  fetchExtractSeconds: number;
}

/** Reads `timing idealTree Completed in 4274ms` and `timing reify:unpack …` from npm's debug log. */
async function npmPhases(cache: string): Promise<NpmPhases> {
  let log = "";
  try {
    for await (const entry of Deno.readDir(join(cache, "_logs"))) {
      if (entry.name.endsWith("-debug-0.log")) {
        log = await Deno.readTextFile(join(cache, "_logs", entry.name));
      }
    }
  } catch {
    // No log: the phases stay unknown.
  }
  const phase = (name: string) => {
    const match = log.match(new RegExp(`timing ${name} Completed in (\\d+)ms`));
    return match ? Number(match[1]) / 1000 : NaN;
  };
  return { resolveSeconds: phase("idealTree"), fetchExtractSeconds: phase("reify:unpack") };
}

/** The environment minus npm_config_* variables, which would override the empty npmrc files. */
function npmFreeEnv(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([name]) => !/^npm_config_/i.test(name)),
  );
}

interface LockedPackage {
  name?: string;
  version?: string;
  integrity?: string;
}

/**
 * Reads the lockfile npm wrote. Resolved URLs differ between registries, so they are left out;
 * name, version and integrity prove that every way installed the same bytes.
 */
async function lockedTree(project: string): Promise<string[]> {
  const lock = JSON.parse(await Deno.readTextFile(join(project, "package-lock.json"))) as {
    packages?: Record<string, LockedPackage>;
  };
  return Object.entries(lock.packages ?? {})
    .filter(([path]) => path !== "")
    .map(([path, pkg]) => `${path} ${pkg.name ?? ""}@${pkg.version} ${pkg.integrity}`)
    .sort();
}

/** The npm and node versions, for the report. */
export async function npmVersions(): Promise<{ npm: string; node: string }> {
  const run = async (command: string, args: string[]) =>
    new TextDecoder().decode((await new Deno.Command(command, { args }).output()).stdout).trim();
  return { npm: await run("npm", ["--version"]), node: await run("node", ["--version"]) };
}
