// What `vm pkg start` writes into the project in the current directory, and what `vm pkg stop`
// takes out again, reported one line per file. The file formats are in src/clients.
import { relative } from "node:path";
import { dataLayout } from "../store/data_dir.ts";
import type { ServerRecord } from "../daemon/server_record.ts";
import {
  type ConfigFileChange,
  rememberProject,
  writeProjectConfig,
} from "../clients/project_config.ts";
import { clientBaseUrl } from "../clients/routing.ts";

export async function configureProject(dataDir: string, record: ServerRecord): Promise<void> {
  const dir = Deno.cwd();
  try {
    const changes = await writeProjectConfig(dir, clientBaseUrl(record.hostname, record.port));
    if (changes.some((change) => change.action === "written")) {
      await rememberProject(dataLayout(dataDir).projectsFile, dir);
    }
    report(changes, dir);
  } catch (error) {
    // The registry runs either way; the project can still use `vm pkg exec` or `vm pkg use`.
    console.error(
      `vm pkg: could not write the project's client configuration: ${(error as Error).message}`,
    );
  }
}

function report(changes: ConfigFileChange[], dir: string): void {
  const shown = (path: string) => relative(dir, path) || path;
  const written = changes.filter((c) => c.action === "written").map((c) => shown(c.path));
  if (written.length > 0) {
    console.log(
      `  project: wrote ${written.join(", ")} (vm pkg stop removes it; --no-config skips)`,
    );
  }
  for (const change of changes.filter((c) => c.action === "skipped")) {
    console.log(`  project: left ${shown(change.path)} alone: ${change.reason}`);
  }
}
