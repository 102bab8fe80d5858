// Checks that the code's layers only import downward, and that no files import each other in a
// loop. A folder under src/ is a layer; a back-import (or a sideways one between siblings) means a
// file sits in the wrong folder. Types count: `import type` ties two layers together as much as a
// value import does. Run by `deno task layers`, which `deno task check` (and so CI) runs.
//
//   deno run --allow-read scripts/check_layers.ts [REPO_DIR]
import { dirname, join, posix, relative } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The layers, bottom first. A layer may import its own folder and any layer on a lower line;
 * layers on one line are siblings and may not import each other (unless SIDEWAYS_IMPORTS says).
 */
export const LAYERS: readonly (readonly string[])[] = [
  // What the program runs on: the error a user reads, child processes on this terminal, the
  // Docker CLI. Anyone may use it. src/version.ts counts here too.
  ["host"],
  // Blobs, KV records, the data dir's layout, the clock, in-flight coalescing.
  ["store"],
  // Fetching from the public registries: HTTP client, metadata cache, verified downloads.
  ["upstream"],
  // The registry server, its routes and one folder per ecosystem.
  ["registry"],
  // Around the registry: its settings file (config), package-manager client configuration
  // (clients), building and uploading packages (publish).
  ["config", "clients", "publish"],
  // Running the registry as a process of its own: start, stop, record, sandbox, container.
  ["daemon"],
  // Developer VMs, which start and use the registry.
  ["vm"],
  // Commands and output.
  ["cli"],
  // main.ts.
  ["main"],
];

/** Sibling layers allowed to import one another, as [importer, imported]. None today. */
export const SIDEWAYS_IMPORTS: readonly (readonly [string, string])[] = [];

/** One import known to break the rule, to be removed by a change under way. */
export interface KnownBackImport {
  from: string;
  to: string;
  why: string;
}

/**
 * The imports known to break the rule, one entry per import. None today: the config⇄registry loop
 * the review found was registry/ importing config/paths.ts (now store/data_dir.ts); settings.ts
 * importing the registry's DEFAULT_* constants points down, config/ being above registry/.
 */
export const KNOWN_BACK_IMPORTS: readonly KnownBackImport[] = [];

/** Files outside a folder of their own, and the layer they belong to. */
const LOOSE_FILES: Record<string, string> = {
  "main.ts": "main",
  "src/version.ts": "host",
};

/** The layer a repository-relative path belongs to, or undefined if it has none. */
export function layerOf(path: string): string | undefined {
  if (path in LOOSE_FILES) return LOOSE_FILES[path];
  const parts = path.split("/");
  if (parts[0] !== "src" || parts.length < 3) return undefined;
  return LAYERS.some((line) => line.includes(parts[1])) ? parts[1] : undefined;
}

function levelOf(layer: string): number {
  return LAYERS.findIndex((line) => line.includes(layer));
}

// One pass over the source that steps over comments and string literals, so an "import" inside
// either is not taken for one. The import forms: `import … from "x"`, `export … from "x"` (both
// also with `type`), `import "x"` and `import("x")`.
const TOKENS = new RegExp(
  [
    String.raw`\/\/[^\n]*`,
    String.raw`\/\*[\s\S]*?\*\/`,
    String.raw`(?<![\w$.])(?:import|export)\b[\s\w{},*$]*?\bfrom\s*(["'])(?<from>[^"'\n]+)\1`,
    String.raw`(?<![\w$.])import\s*\(?\s*(["'])(?<bare>[^"'\n]+)\3`,
    "`(?:\\\\[\\s\\S]|[^\\\\`])*`",
    String.raw`"(?:\\.|[^\\"\n])*"`,
    String.raw`'(?:\\.|[^\\'\n])*'`,
  ].join("|"),
  "g",
);

/** The specifiers a TypeScript source imports (type-only imports included). */
export function importSpecifiers(source: string): string[] {
  const found: string[] = [];
  for (const match of source.matchAll(TOKENS)) {
    const specifier = match.groups?.from ?? match.groups?.bare;
    if (specifier !== undefined) found.push(specifier);
  }
  return found;
}

/** The imports between the given files: relative specifiers resolved to repository paths. */
export function importGraph(files: Record<string, string>): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const [path, source] of Object.entries(files)) {
    const targets = importSpecifiers(source)
      .filter((specifier) => specifier.startsWith("./") || specifier.startsWith("../"))
      .map((specifier) => posix.normalize(posix.join(posix.dirname(path), specifier)));
    graph.set(path, [...new Set(targets)]);
  }
  return graph;
}

/**
 * Every problem in the tree, one line each: an import that points up or sideways, a file in no
 * declared layer, and each loop of files importing each other. Empty when the layering holds.
 * `files` maps repository-relative paths (src/…, main.ts) to their source.
 */
export function checkLayers(
  files: Record<string, string>,
  { knownBackImports = KNOWN_BACK_IMPORTS, sidewaysImports = SIDEWAYS_IMPORTS } = {},
): string[] {
  const graph = importGraph(files);
  const problems: string[] = [];
  const known = new Set(knownBackImports.map(({ from, to }) => `${from} ${to}`));
  const sideways = new Set(sidewaysImports.map(([from, to]) => `${from} ${to}`));
  for (const [path, targets] of graph) {
    const layer = layerOf(path);
    if (layer === undefined) {
      problems.push(`${path}: in no declared layer (add its folder to LAYERS)`);
      continue;
    }
    for (const target of targets) {
      const targetLayer = layerOf(target);
      // Outside the layered code (deno.json, say): nothing to order.
      if (targetLayer === undefined || targetLayer === layer) continue;
      if (known.has(`${path} ${target}`)) continue;
      const up = levelOf(targetLayer) > levelOf(layer);
      const side = levelOf(targetLayer) === levelOf(layer) &&
        !sideways.has(`${layer} ${targetLayer}`);
      if (up || side) {
        problems.push(`${path} imports ${target}: layer ${layer} may not import ${targetLayer}`);
      }
    }
  }
  for (const cycle of importCycles(graph, known)) {
    problems.push(`import cycle: ${[...cycle, cycle[0]].join(" -> ")}`);
  }
  return problems;
}

/**
 * One loop per group of files that import each other (Tarjan's strongly connected components),
 * each as the files along it. Imports listed in `skip` ("from to") are left out.
 */
export function importCycles(graph: Map<string, string[]>, skip = new Set<string>()): string[][] {
  const edges = (node: string) =>
    (graph.get(node) ?? []).filter((to) => graph.has(to) && !skip.has(`${node} ${to}`));
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (node: string) => {
    index.set(node, index.size);
    low.set(node, index.get(node)!);
    stack.push(node);
    onStack.add(node);
    for (const to of edges(node)) {
      if (!index.has(to)) {
        visit(to);
        low.set(node, Math.min(low.get(node)!, low.get(to)!));
      } else if (onStack.has(to)) {
        low.set(node, Math.min(low.get(node)!, index.get(to)!));
      }
    }
    if (low.get(node) !== index.get(node)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== node);
    const selfImport = edges(node).includes(node);
    if (component.length > 1 || selfImport) cycles.push(loopThrough(component, edges));
  };
  for (const node of [...graph.keys()].sort()) if (!index.has(node)) visit(node);
  return cycles;
}

/** A path from the component's first file (by name) back to itself, staying inside it. */
function loopThrough(component: string[], edges: (node: string) => string[]): string[] {
  const members = new Set(component);
  const start = [...component].sort()[0];
  // Breadth-first from start's successors back to start: the shortest loop through it.
  const cameFrom = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const node = queue.shift()!;
    for (const to of edges(node)) {
      if (!members.has(to) || cameFrom.has(to)) continue;
      cameFrom.set(to, node);
      if (to === start) {
        const loop = [start];
        for (let at = node; at !== start; at = cameFrom.get(at)!) loop.splice(1, 0, at);
        return loop;
      }
      queue.push(to);
    }
  }
  return [start];
}

/** main.ts and every .ts file under src/, by repository-relative path. */
export async function readTree(repoDir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  files["main.ts"] = await Deno.readTextFile(join(repoDir, "main.ts"));
  const walk = async (dir: string) => {
    for await (const entry of Deno.readDir(dir)) {
      const path = join(dir, entry.name);
      if (entry.isDirectory) await walk(path);
      else if (entry.isFile && entry.name.endsWith(".ts")) {
        files[relative(repoDir, path).split("\\").join("/")] = await Deno.readTextFile(path);
      }
    }
  };
  await walk(join(repoDir, "src"));
  return files;
}

if (import.meta.main) {
  const repoDir = Deno.args[0] ?? dirname(dirname(fileURLToPath(import.meta.url)));
  const files = await readTree(repoDir);
  const problems = checkLayers(files);
  for (const problem of problems) console.error(problem);
  if (problems.length > 0) {
    console.error(
      `${problems.length} layering problem(s); the order is LAYERS in ${
        relative(Deno.cwd(), fileURLToPath(import.meta.url))
      }`,
    );
    Deno.exit(1);
  }
  console.log(`layers: ${Object.keys(files).length} files, every import points down, no cycles`);
}
