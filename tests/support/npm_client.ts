// Runs the real npm client with nothing from the user's own configuration: an empty userconfig,
// a cache dir of the test's choosing, and the registry under test.
import { join } from "node:path";
import { hasProgram, type ProcessResult, runProcess } from "./process.ts";

export function hasNpm(): Promise<boolean> {
  return hasProgram("npm");
}

export async function runNpm(
  args: string[],
  options: {
    cwd: string;
    registry: string;
    cache: string;
    env?: Record<string, string>;
    /** Lines for the (otherwise empty) user npmrc, e.g. an `_authToken`. */
    npmrc?: string[];
  },
): Promise<ProcessResult> {
  const userconfig = join(options.cwd, ".test-npmrc");
  await Deno.writeTextFile(userconfig, (options.npmrc ?? []).map((line) => line + "\n").join(""));
  // Defaults first: a later flag wins, so a test can override any of them.
  return await runProcess("npm", [
    args[0],
    "--loglevel=warn",
    "--no-fund",
    "--no-update-notifier",
    `--registry=${options.registry}`,
    `--cache=${options.cache}`,
    `--userconfig=${userconfig}`,
    ...args.slice(1),
  ], {
    cwd: options.cwd,
    env: { NPM_CONFIG_GLOBALCONFIG: join(options.cwd, ".test-global-npmrc"), ...options.env },
  });
}

/** A project dir with the given package.json dependencies. */
export async function makeProject(dependencies: Record<string, string>): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "vm-npm-project-" });
  await Deno.writeTextFile(
    join(dir, "package.json"),
    JSON.stringify({ name: "vm-test-project", version: "1.0.0", private: true, dependencies }),
  );
  return dir;
}

/** The npmrc line that gives npm the registry's write token (what the README tells users). */
export function authTokenLine(registryUrl: string, token: string): string {
  return `${registryUrl.replace(/^https?:/, "").replace(/\/?$/, "/")}:_authToken=${token}`;
}
