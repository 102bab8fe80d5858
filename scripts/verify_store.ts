// Re-hashes every blob in a registry data dir and reports any whose content no longer matches the
// sha256 it is stored under (disk corruption, a hand edit). Read-only; safe on a running server.
//
//   deno run --allow-read --allow-env scripts/verify_store.ts [DATA_DIR]
import { join } from "node:path";
import { createHash } from "node:crypto";
import { dataLayout, defaultDataDir } from "../src/store/data_dir.ts";

export async function verifyStore(dataDir: string): Promise<{ checked: number; bad: string[] }> {
  const base = join(dataLayout(dataDir).blobs, "sha256");
  const bad: string[] = [];
  let checked = 0;
  for await (const prefix of Deno.readDir(base)) {
    if (!prefix.isDirectory) continue;
    for await (const entry of Deno.readDir(join(base, prefix.name))) {
      const path = join(base, prefix.name, entry.name);
      const hash = createHash("sha256");
      using file = await Deno.open(path);
      for await (const chunk of file.readable) hash.update(chunk);
      checked++;
      if (hash.digest("hex") !== entry.name) bad.push(path);
    }
  }
  return { checked, bad };
}

if (import.meta.main) {
  const dataDir = Deno.args[0] ?? defaultDataDir();
  const { checked, bad } = await verifyStore(dataDir);
  for (const path of bad) console.error(`corrupt: ${path}`);
  console.log(`${checked} blobs checked in ${dataDir}, ${bad.length} corrupt`);
  Deno.exit(bad.length === 0 ? 0 : 1);
}
