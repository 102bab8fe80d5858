// The load generator (wrk) and the static-file baseline (nginx), both from Debian: found on the
// PATH (or /usr/sbin), installed with apt-get when missing and running as root.
import { join } from "node:path";

/** Debian's nginx (bookworm: 1.22) has gzip_static (precompressed files) and sendfile built in. */
const DEBIAN_PACKAGES = { wrk: "wrk", nginx: "nginx" } as const;
export type Tool = keyof typeof DEBIAN_PACKAGES;

export interface Tools {
  wrk: string;
  nginx: string;
  wrkVersion: string;
  nginxVersion: string;
}

async function findExecutable(name: string): Promise<string | undefined> {
  const dirs = [...(Deno.env.get("PATH") ?? "").split(":"), "/usr/sbin", "/sbin", "/usr/bin"];
  for (const dir of dirs.filter(Boolean)) {
    const path = join(dir, name);
    try {
      const info = await Deno.stat(path);
      if (info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0) return path;
    } catch {
      // Not here.
    }
  }
  return undefined;
}

async function aptGet(args: string[], log: (line: string) => void): Promise<boolean> {
  log(`apt-get ${args.join(" ")}`);
  const output = await new Deno.Command("apt-get", {
    args,
    env: { DEBIAN_FRONTEND: "noninteractive" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output().catch((error) => {
    throw new Error(`cannot run apt-get: ${(error as Error).message}`);
  });
  if (!output.success) {
    const tail = new TextDecoder().decode(output.stderr).trim().split("\n").slice(-5).join("\n");
    log(`apt-get ${args[0]} failed:\n${tail}`);
  }
  return output.success;
}

/** Installs the missing Debian packages (as root), or says how to. */
async function install(missing: Tool[], log: (line: string) => void): Promise<void> {
  const packages = missing.map((tool) => DEBIAN_PACKAGES[tool]);
  const command = `apt-get install -y --no-install-recommends ${packages.join(" ")}`;
  if (Deno.uid() !== 0) {
    throw new Error(
      `${missing.join(" and ")} not found, and installing needs root: run \`sudo ${command}\``,
    );
  }
  const installArgs = ["install", "-y", "--no-install-recommends", ...packages];
  if (await aptGet(installArgs, log)) return;
  // Stale package lists are the usual reason; refresh once and try again.
  if (await aptGet(["update"], log) && await aptGet(installArgs, log)) return;
  throw new Error(`could not install ${packages.join(" ")} from Debian (\`${command}\` failed)`);
}

/** The Debian package version, e.g. "1.22.1-9+deb12u11", when dpkg knows the package. */
async function debianVersion(tool: Tool): Promise<string | undefined> {
  const output = await new Deno.Command("dpkg-query", {
    args: ["-W", "-f=${Version}", DEBIAN_PACKAGES[tool]],
    stdout: "piped",
    stderr: "null",
  }).output().catch(() => undefined);
  const version = output?.success ? new TextDecoder().decode(output.stdout).trim() : "";
  return version || undefined;
}

async function versionLine(path: string, args: string[], pattern: RegExp): Promise<string> {
  const output = await new Deno.Command(path, { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
  return text.match(pattern)?.[1] ?? "unknown";
}

export async function ensureTools(log: (line: string) => void): Promise<Tools> {
  let wrk = await findExecutable("wrk");
  let nginx = await findExecutable("nginx");
  const missing: Tool[] = [];
  if (!wrk) missing.push("wrk");
  if (!nginx) missing.push("nginx");
  if (missing.length > 0) {
    await install(missing, log);
    wrk = await findExecutable("wrk");
    nginx = await findExecutable("nginx");
    if (!wrk || !nginx) throw new Error("apt-get succeeded but wrk or nginx is still not found");
  }
  const nginxPackage = await debianVersion("nginx");
  return {
    wrk: wrk!,
    nginx: nginx!,
    // "wrk debian/4.1.0-3+b2 [epoll] Copyright ..." (on stdout, exit status 1)
    wrkVersion: `wrk ${await versionLine(wrk!, ["--version"], /^wrk (\S+)/m)}`,
    // "nginx version: nginx/1.22.1" (on stderr)
    nginxVersion: `nginx ${await versionLine(nginx!, ["-v"], /nginx\/(\S+)/)}` +
      (nginxPackage ? ` (Debian ${nginxPackage})` : ""),
  };
}
