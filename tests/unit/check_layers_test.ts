import assert from "node:assert/strict";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { checkLayers, importSpecifiers, readTree } from "../../scripts/check_layers.ts";

Deno.test("check_layers reports an import that points up, one sideways and a loop of files", () => {
  const problems = checkLayers({
    "main.ts": `import { main } from "./src/cli/main.ts";`,
    "src/cli/main.ts": `import { CliError } from "../host/errors.ts";`,
    "src/host/errors.ts": `export class CliError extends Error {}`,
    // store is below upstream: this one points up. A type import counts as much as a value one.
    "src/store/cache.ts":
      `import type { Fetcher } from "../upstream/fetch.ts";\nexport const a = 1;`,
    "src/upstream/fetch.ts": `import { a } from "../store/cache.ts";\nexport type Fetcher = 1;`,
    // config and clients are siblings.
    "src/config/settings.ts": `export { routing } from "../clients/routing.ts";`,
    "src/clients/routing.ts": `export const routing = 1;`,
    // Two files of one folder importing each other.
    "src/registry/stats.ts": `import { ClientStats } from "./client_stats.ts";`,
    "src/registry/client_stats.ts": `import {\n  type Counter,\n} from "./stats.ts";`,
  });
  assert.deepEqual(problems.sort(), [
    "import cycle: src/registry/client_stats.ts -> src/registry/stats.ts -> " +
    "src/registry/client_stats.ts",
    "import cycle: src/store/cache.ts -> src/upstream/fetch.ts -> src/store/cache.ts",
    "src/config/settings.ts imports src/clients/routing.ts: layer config may not import clients",
    "src/store/cache.ts imports src/upstream/fetch.ts: layer store may not import upstream",
  ]);
});

Deno.test("an allowed sideways import and a listed back-import pass; nothing else does", () => {
  const files = {
    "src/config/settings.ts": `import { routing } from "../clients/routing.ts";`,
    "src/clients/routing.ts": `import { start } from "../daemon/start.ts";`,
    "src/daemon/start.ts": "",
  };
  assert.deepEqual(checkLayers(files).length, 2);
  assert.deepEqual(
    checkLayers(files, {
      sidewaysImports: [["config", "clients"]],
      knownBackImports: [{ from: "src/clients/routing.ts", to: "src/daemon/start.ts", why: "" }],
    }),
    [],
  );
  // Allowing config to import clients does not allow the reverse.
  assert.deepEqual(
    checkLayers({ ...files, "src/clients/routing.ts": `import "../config/settings.ts";` }, {
      sidewaysImports: [["config", "clients"]],
    }),
    [
      "src/clients/routing.ts imports src/config/settings.ts: layer clients may not import config",
      "import cycle: src/clients/routing.ts -> src/config/settings.ts -> src/clients/routing.ts",
    ],
  );
});

Deno.test("check_layers accepts imports that point down and names a folder with no layer", () => {
  assert.deepEqual(
    checkLayers({
      "main.ts": `import "./src/cli/main.ts";`,
      "src/cli/main.ts": `import { VERSION } from "../version.ts";\nimport "../vm/x.ts";`,
      "src/vm/x.ts": `const m = await import("../store/y.ts");`,
      "src/store/y.ts": `import { VERSION } from "../version.ts";`,
      "src/version.ts": `import config from "../deno.json" with { type: "json" };`,
    }),
    [],
  );
  assert.deepEqual(checkLayers({ "src/lib/z.ts": "" }), [
    "src/lib/z.ts: in no declared layer (add its folder to LAYERS)",
  ]);
});

Deno.test("check_layers reads imports, not comments or strings that look like them", () => {
  const source = [
    `// import { x } from "../cli/a.ts";`,
    `/* export * from "../cli/b.ts"; */`,
    'const help = `import { y } from "../cli/c.ts"`;',
    `const text = "import '../cli/d.ts'";`,
    `import {`,
    `  type A,`,
    `  b as c,`,
    `} from "./e.ts";`,
    `import * as ns from "./f.ts";`,
    `export type { G } from "./g.ts";`,
    `import def, { h } from './h.ts';`,
    `import "./i.ts";`,
    `const lazy = import("./j.ts");`,
    `import json from "./k.json" with { type: "json" };`,
  ].join("\n");
  assert.deepEqual(importSpecifiers(source), [
    "./e.ts",
    "./f.ts",
    "./g.ts",
    "./h.ts",
    "./i.ts",
    "./j.ts",
    "./k.json",
  ]);
});

Deno.test("the project's own tree has no back-import and no import cycle", async () => {
  const repoDir = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
  assert.deepEqual(checkLayers(await readTree(repoDir)), []);
});
