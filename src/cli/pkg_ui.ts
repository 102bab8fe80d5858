// `vm pkg ui`: the registry's dashboard (its `/`) for a person: prints the URL and opens it in a
// browser when there is a desktop to show one (a display on Linux; macOS always), never over SSH
// or in CI, where a browser process would only hang or fail. Like `vm pkg status`, it exits 3 with
// one line when the registry does not run.
import type { Command } from "@commander-js/extra-typings";
import { resolveDataDir } from "../config/settings.ts";
import { findServer, probeHealth } from "../daemon/server_record.ts";
import { CliError } from "../host/errors.ts";
import { DATA_HELP, serverOption } from "./options.ts";

export function addUiCommand(pkg: Command): void {
  pkg.command("ui")
    .description("print the registry's dashboard URL and open it in a browser")
    .addOption(serverOption())
    .option("--data <dir>", DATA_HELP)
    .option("--no-open", "only print the URL")
    .addHelpText(
      "after",
      "\nA browser opens (xdg-open on Linux, open on macOS) only with a desktop session: on Linux" +
        "\nwhen DISPLAY or WAYLAND_DISPLAY is set." +
        "\n\nExit status: 0 when the registry answers, 3 when it does not run (or does not answer" +
        "\nat --server).\n\nExamples:\n  vm pkg ui\n  vm pkg ui --no-open" +
        "\n  vm pkg ui --server http://team-cache:3080",
    )
    .action(async (options) => {
      const url = await dashboardUrl(options.server, await resolveDataDir(options.data));
      console.log(url);
      const opener = options.open ? browserOpener(Deno.build.os, Deno.env.toObject()) : undefined;
      if (opener) await openBrowser(opener, url);
    });
}

/** The dashboard's URL, once the registry answers; exit 3 with one line when it does not. */
async function dashboardUrl(server: string | undefined, dataDir: string): Promise<string> {
  if (server) {
    const base = server.replace(/\/+$/, "");
    if (await probeHealth(base, 5000) === undefined) {
      throw new CliError(`the registry does not answer at ${base}`, 3);
    }
    return `${base}/`;
  }
  const found = await findServer(dataDir);
  if (found.state === "stopped") {
    throw new CliError("the registry is not running (start it with `vm pkg start`)", 3);
  }
  if (found.state === "unresponsive") {
    throw new CliError(
      `the registry (pid ${found.record.pid}) does not answer at ${found.record.url}`,
      3,
    );
  }
  return `${found.record.url.replace(/\/+$/, "")}/`;
}

/** The command that opens a URL in this desktop's browser; undefined without a desktop. */
export function browserOpener(
  os: typeof Deno.build.os,
  env: Record<string, string>,
): string | undefined {
  if (os === "darwin") return "open";
  if (os === "windows") return undefined;
  return env.DISPLAY || env.WAYLAND_DISPLAY ? "xdg-open" : undefined;
}

/** Runs the opener; a missing or failing one costs a line, not the command (the URL is printed). */
async function openBrowser(opener: string, url: string): Promise<void> {
  try {
    const status = await new Deno.Command(opener, {
      args: [url],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output();
    if (!status.success) {
      console.error(`vm: ${opener} failed (exit ${status.code}): open the URL yourself`);
    }
  } catch (error) {
    const why = error instanceof Deno.errors.NotFound ? "not found" : (error as Error).message;
    console.error(`vm: could not open a browser (${opener}: ${why}): open the URL yourself`);
  }
}
