// `vm pkg add | remove | list | claim | token`: private packages from the command line. Building
// and uploading are in src/publish; the server side in src/registry.
import { type Command, InvalidArgumentError, Option } from "@commander-js/extra-typings";
import { resolve } from "node:path";
import { resolveDataDir } from "../config/settings.ts";
import { readToken } from "../registry/auth.ts";
import { ecosystemNamed, ECOSYSTEMS } from "../registry/ecosystems.ts";
import type { CachedPackageSummary, PrivatePackageSummary } from "../registry/private_admin.ts";
import { detectTypes, parsePackageType, PUBLISHERS } from "../publish/detect.ts";
import { type PackageType, PublishError } from "../publish/types.ts";
import type { EvictionResult } from "../store/cache_limit.ts";
import { CliError } from "../host/errors.ts";
import { formatBytes, printTable } from "./format.ts";
import { DATA_HELP, serverOption } from "./options.ts";
import {
  connectionProblem,
  registryFetch,
  type RegistryTarget,
  resolveRegistry,
} from "./registry_client.ts";

const TYPE_HELP = "package type: npm, pip (PyPI) or cargo";

function parseTypeOption(value: string): PackageType {
  const type = parsePackageType(value);
  if (!type) throw new InvalidArgumentError("must be npm, pip or cargo");
  return type;
}

const typeOption = () => new Option("--type <type>", TYPE_HELP).argParser(parseTypeOption);

/** `vm pkg list --type`: any ecosystem the registry serves (cached packages exist for each). */
function parseEcosystemOption(value: string): string {
  const ecosystem = ecosystemNamed(value);
  if (!ecosystem) {
    throw new InvalidArgumentError(
      `must be one of ${ECOSYSTEMS.map((each) => each.id).join(", ")}`,
    );
  }
  return ecosystem.id;
}

export function addPackageCommands(pkg: Command): void {
  pkg.command("add")
    .description("build the package in the current directory and publish it to the registry")
    .addOption(typeOption())
    .addOption(serverOption())
    .option("--dir <path>", "project directory (default: the current one)")
    .option("--allow-shadow", "publish even if the public registry has this name (hides it)")
    .option("--data <dir>", DATA_HELP)
    .option("--json", "print what was published as JSON")
    .addHelpText(
      "after",
      "\nExamples:\n  vm pkg add\n  vm pkg add --type pip\n  vm pkg add --type npm --allow-shadow",
    )
    .action(async (options) => {
      const dir = resolve(options.dir ?? Deno.cwd());
      const type = options.type ?? await chooseType(dir);
      const publisher = PUBLISHERS[type];
      const target = await resolveRegistry(
        { server: options.server, dataDir: await resolveDataDir(options.data) },
        true,
      );
      await assertReachable(target);
      const log = options.json ? () => {} : (line: string) => console.error(line);
      log(`vm pkg: building the ${type} package with ${publisher.tool}…`);
      const built = await publisher.build(dir).catch(rethrowPublishError);
      log(`vm pkg: uploading ${built.name} ${built.version} to ${target.url}…`);
      try {
        await publisher.upload(built, {
          registryUrl: target.url,
          token: target.token!,
          allowShadow: options.allowShadow ?? false,
        }).catch((error) => rethrowPublishError(error, built.name, built.version));
      } finally {
        if (built.tempDir) await Deno.remove(built.tempDir, { recursive: true }).catch(() => {});
      }
      const files = built.files.map(({ filename, size }) => ({ filename, size }));
      if (options.json) {
        console.log(JSON.stringify({ type, name: built.name, version: built.version, files }));
        return;
      }
      console.log(`published ${type} ${built.name} ${built.version}`);
      for (const file of files) console.log(`  ${file.filename} (${formatBytes(file.size)})`);
    });

  pkg.command("remove")
    .description("remove a private package or one of its versions (cargo: yank unless --force)")
    .argument("<name>", "package name")
    .option("--version <version>", "only this version")
    .addOption(typeOption())
    .option("-f, --force", "do not ask; for cargo, delete instead of yank")
    .option(
      "--reopen",
      "also give the name back to upstream (its public versions are served again)",
    )
    .addOption(serverOption())
    .option("--data <dir>", DATA_HELP)
    .addHelpText(
      "after",
      "\nExamples:\n  vm pkg remove my-lib --version 1.0.0\n  vm pkg remove my-crate --type cargo" +
        "\n  vm pkg remove my-lib --force --reopen",
    )
    .action(async (name, options) => {
      const target = await resolveRegistry(
        { server: options.server, dataDir: await resolveDataDir(options.data) },
        true,
      );
      const pkg = await findPrivate(target, name, options.type);
      const versions = options.version ? [options.version] : pkg.versions.map((v) => v.version);
      if (options.version && !pkg.versions.some((v) => v.version === options.version)) {
        throw new CliError(`${pkg.type} ${pkg.name} has no version ${options.version}`);
      }
      const yank = pkg.type === "cargo" && !options.force;
      if (yank && options.reopen) {
        throw new CliError(
          "--reopen deletes the crate, which needs --force (the default is a yank)",
        );
      }
      const what = `${pkg.type} ${pkg.name}${options.version ? ` ${options.version}` : ""}`;
      if (!options.force) {
        confirm(
          yank ? `Yank ${what}?` : `Delete ${what}${options.version ? "" : " (every version)"}?`,
        );
      }
      if (yank) {
        for (const version of versions) {
          const response = await registryFetch(
            target,
            `/cargo/api/v1/crates/${encodeURIComponent(pkg.name)}/${
              encodeURIComponent(version)
            }/yank`,
            { method: "DELETE", write: true },
          );
          await expectOk(response, `yanking ${pkg.name} ${version}`);
        }
        console.log(
          `yanked cargo ${pkg.name} ${
            versions.join(", ")
          } (cargo yank --undo, or vm pkg remove --force to delete)`,
        );
        return;
      }
      const query = new URLSearchParams();
      if (options.version) query.set("version", options.version);
      if (options.reopen) query.set("reopen", "true");
      const response = await registryFetch(
        target,
        `/-/packages/${pkg.type}/${encodeURIComponent(pkg.name)}?${query}`,
        { method: "DELETE", write: true },
      );
      const result = await expectOk(response, `removing ${what}`) as {
        removed: string[];
        reopened: boolean;
      };
      console.log(
        `removed ${pkg.type} ${pkg.name} ${result.removed.join(", ") || "(no versions)"}`,
      );
      console.log(
        result.reopened
          ? `  ${pkg.name} is public again: upstream versions are served`
          : `  ${pkg.name} stays private (upstream versions are not served); --reopen gives it back`,
      );
    });

  pkg.command("list")
    .description("list private packages, or with --cached the cached public ones")
    .addOption(
      new Option(
        "--type <type>",
        `package type: ${ECOSYSTEMS.map((each) => each.id).join(", ")}`,
      ).argParser(parseEcosystemOption),
    )
    .option("--cached", "list cached public packages with their sizes")
    .option("--json", "print JSON for scripts")
    .addOption(serverOption())
    .option("--data <dir>", DATA_HELP)
    .addHelpText("after", "\nExamples:\n  vm pkg list\n  vm pkg list --cached --type npm")
    .action(async (options) => {
      const target = await resolveRegistry(
        { server: options.server, dataDir: await resolveDataDir(options.data) },
        false,
      );
      const query = options.type ? `?type=${options.type}` : "";
      const path = options.cached ? `/-/packages/cached${query}` : `/-/packages${query}`;
      const body = await expectOk(await registryFetch(target, path), "listing packages") as {
        packages: unknown[];
      };
      if (options.json) {
        console.log(JSON.stringify(body.packages, null, 2));
        return;
      }
      if (options.cached) printCached(body.packages as CachedPackageSummary[]);
      else printPrivate(body.packages as PrivatePackageSummary[]);
    });

  pkg.command("claim")
    .description("make a name private before publishing it with npm, twine or cargo")
    .argument("<name>", "package name")
    .addOption(typeOption().makeOptionMandatory())
    .addOption(serverOption())
    .option("--data <dir>", DATA_HELP)
    .addHelpText(
      "after",
      "\nA claimed name is never fetched from upstream again; native clients may then publish" +
        "\nit even if the public registry has it.\n\nExample:\n  vm pkg claim left-pad --type npm",
    )
    .action(async (name, options) => {
      const target = await resolveRegistry(
        { server: options.server, dataDir: await resolveDataDir(options.data) },
        true,
      );
      const response = await registryFetch(
        target,
        `/-/packages/${options.type}/${encodeURIComponent(name)}/claim`,
        { method: "PUT", write: true },
      );
      const pkg = await expectOk(response, `claiming ${name}`) as PrivatePackageSummary;
      console.log(`claimed ${options.type} ${pkg.name}: only versions published here are served`);
    });

  pkg.command("gc")
    .description("evict cached files past the size limit and delete blobs nothing refers to")
    .addOption(serverOption())
    .option("--data <dir>", DATA_HELP)
    .option("--json", "print JSON for scripts")
    .addHelpText(
      "after",
      "\nThe limit is max_cache_size (vm pkg config); private packages are never evicted." +
        "\n\nExample:\n  vm pkg gc",
    )
    .action(async (options) => {
      const target = await resolveRegistry(
        { server: options.server, dataDir: await resolveDataDir(options.data) },
        true,
      );
      const response = await registryFetch(target, "/-/gc", { method: "POST", write: true });
      const result = await expectOk(response, "garbage collection") as EvictionResult;
      if (options.json) {
        console.log(JSON.stringify(result));
        return;
      }
      console.log(
        `evicted ${result.evictedFiles} cached files (${formatBytes(result.evictedBytes)}), ` +
          `removed ${result.orphanBlobs} unreferenced blobs (${formatBytes(result.orphanBytes)})`,
      );
    });

  pkg.command("token")
    .description("print the registry's write token (for npm, twine and cargo)")
    .option("--data <dir>", DATA_HELP)
    .addHelpText(
      "after",
      '\nExamples:\n  npm config set //127.0.0.1:3080/npm/:_authToken "$(vm pkg token)"' +
        '\n  twine upload -u __token__ -p "$(vm pkg token)" --repository-url http://127.0.0.1:3080/pypi/ dist/*' +
        '\n  CARGO_REGISTRIES_VM_TOKEN="$(vm pkg token)" cargo publish --registry vm',
    )
    .action(async (options) => {
      const dataDir = await resolveDataDir(options.data);
      const token = await readToken(dataDir);
      if (!token) {
        throw new CliError(
          `no token in ${dataDir} yet: it is created when the registry first starts`,
        );
      }
      console.log(token);
    });
}

/** The detected type; asks on a terminal when several match. */
async function chooseType(dir: string): Promise<PackageType> {
  const types = await detectTypes(dir);
  if (types.length === 1) return types[0];
  if (types.length === 0) {
    const markers = Object.values(PUBLISHERS).map((p) => p.marker).join("; ");
    throw new CliError(`nothing publishable in ${dir} (looked for ${markers})`);
  }
  if (!Deno.stdin.isTerminal()) {
    throw new CliError(`${dir} holds ${types.join(" and ")} packages: choose one with --type`);
  }
  const answer = prompt(`Several package types here: ${types.join(", ")}. Which one?`, types[0]);
  const chosen = answer ? parsePackageType(answer.trim()) : undefined;
  if (!chosen || !types.includes(chosen)) {
    throw new CliError(`not one of ${types.join(", ")}: choose with --type`);
  }
  return chosen;
}

function confirm(question: string): void {
  if (!Deno.stdin.isTerminal()) {
    throw new CliError(
      `${question.replace(/\?$/, "")}: refusing without confirmation (pass --force)`,
    );
  }
  const answer = prompt(`${question} [y/N]`);
  if (!answer || !/^y(es)?$/i.test(answer.trim())) throw new CliError("nothing removed", 1);
}

async function findPrivate(
  target: RegistryTarget,
  name: string,
  type: PackageType | undefined,
): Promise<PrivatePackageSummary> {
  const response = await registryFetch(target, `/-/packages${type ? `?type=${type}` : ""}`);
  const { packages } = await expectOk(response, "listing packages") as {
    packages: PrivatePackageSummary[];
  };
  const normalized = (value: string) => value.toLowerCase().replace(/[-_.]+/g, "-");
  const matches = packages.filter((p) => normalized(p.name) === normalized(name));
  if (matches.length === 0) {
    throw new CliError(`no private ${type ?? "package"} named ${name} (see vm pkg list)`);
  }
  if (matches.length > 1) {
    throw new CliError(
      `${name} is private in ${matches.map((m) => m.type).join(" and ")}: choose with --type`,
    );
  }
  return matches[0];
}

async function assertReachable(target: RegistryTarget): Promise<void> {
  try {
    const response = await fetch(`${target.url}/-/health`, { signal: AbortSignal.timeout(5000) });
    await response.body?.cancel();
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
  } catch (error) {
    throw new CliError(`no registry answers at ${target.url} (${connectionProblem(error)})`);
  }
}

async function expectOk(response: Response, doing: string): Promise<unknown> {
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (!response.ok) {
    const error = (body as { error?: string; errors?: { detail: string }[] })?.error ??
      (body as { errors?: { detail: string }[] })?.errors?.[0]?.detail ?? `HTTP ${response.status}`;
    throw new CliError(`${doing} failed: ${error}`);
  }
  return body;
}

function rethrowPublishError(error: unknown, name?: string, version?: string): never {
  if (error instanceof PublishError) {
    if (error.status === 409 && name && /already exists/.test(error.message)) {
      throw new CliError(`${name} ${version} is already published (bump the version)`);
    }
    if (error.status === 401) {
      throw new CliError(`the registry refused the token: ${error.message}`);
    }
    throw new CliError(error.message);
  }
  if (error instanceof TypeError && /fetch|connect/i.test(error.message)) {
    throw new CliError(`the upload failed: ${connectionProblem(error)}`);
  }
  throw error;
}

function printPrivate(packages: PrivatePackageSummary[]): void {
  if (packages.length === 0) {
    console.log("no private packages (publish one with vm pkg add)");
    return;
  }
  const rows = packages.map((p) => {
    const versions = p.versions.map((v) =>
      v.version + (v.yanked ? " (yanked)" : "") + (v.deprecated ? " (deprecated)" : "")
    );
    const size = p.versions.flatMap((v) => v.files).reduce((sum, f) => sum + f.size, 0);
    return [
      p.type,
      p.name,
      versions.length ? versions.join(", ") : "(no versions: name kept private)",
      formatBytes(size),
    ];
  });
  printTable(["TYPE", "NAME", "VERSIONS", "SIZE"], rows);
}

function printCached(packages: CachedPackageSummary[]): void {
  if (packages.length === 0) {
    console.log("no cached packages yet");
    return;
  }
  const rows = packages.map((p) => [p.type, p.name, String(p.files), formatBytes(p.bytes)]);
  printTable(["TYPE", "NAME", "FILES", "SIZE"], rows);
  const total = packages.reduce((sum, p) => sum + p.bytes, 0);
  console.log(
    `${packages.length} package${packages.length === 1 ? "" : "s"}, ${formatBytes(total)}`,
  );
}
