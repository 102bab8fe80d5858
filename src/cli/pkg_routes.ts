// `vm pkg routes`: the registry's route table as the server itself lists it (`GET /-/routes`):
// every route with its method, pattern, owner and purpose.
import type { Command } from "@commander-js/extra-typings";
import { resolveDataDir } from "../config/settings.ts";
import type { ListedRoute } from "../registry/route_table.ts";
import { CliError } from "../host/errors.ts";
import { printTable } from "./format.ts";
import { DATA_HELP, serverOption } from "./options.ts";
import { registryFetch, resolveRegistry } from "./registry_client.ts";

export function addRoutesCommand(pkg: Command): void {
  pkg.command("routes")
    .description("list the registry's routes: method, path pattern, ecosystem, what each does")
    .addOption(serverOption())
    .option("--data <dir>", DATA_HELP)
    .option("--json", "print JSON for scripts")
    .addHelpText(
      "after",
      "\nEvery GET route answers HEAD too. Patterns: :name is one path segment, :name+ one or" +
        "\nmore.\n\nExamples:\n  vm pkg routes\n  vm pkg routes --server http://team-cache:3080 --json",
    )
    .action(async (options) => {
      const target = await resolveRegistry(
        { server: options.server, dataDir: await resolveDataDir(options.data) },
        false,
      );
      const response = await registryFetch(target, "/-/routes");
      if (!response.ok) {
        await response.body?.cancel();
        throw new CliError(
          `the registry at ${target.url} did not list its routes (HTTP ${response.status}: ` +
            "a server older than `vm pkg routes`?)",
        );
      }
      const { routes } = await response.json() as { routes: ListedRoute[] };
      if (options.json) {
        console.log(JSON.stringify(routes, null, 2));
        return;
      }
      printTable(
        ["METHOD", "PATTERN", "ECOSYSTEM", "DESCRIPTION"],
        routes.map((each) => [each.method, each.pattern, each.ecosystem ?? "-", each.description]),
      );
    });
}
