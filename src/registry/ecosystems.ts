// The ecosystems this registry serves, in the order they are listed everywhere (routes, status,
// settings, client configuration). Adding one is a folder under src/registry/ with a mod.ts that
// exports its `Ecosystem` (see ecosystem.ts), and one entry here.
import { type Ecosystem, findEcosystem } from "./ecosystem.ts";
import { npm } from "./npm/mod.ts";
import { pypi } from "./pypi/mod.ts";
import { cargo } from "./cargo/mod.ts";
import { go } from "./go/mod.ts";

export const ECOSYSTEMS: readonly Ecosystem[] = [npm, pypi, cargo, go];

/** The ecosystem a `--type` or `?type=` value names (its id or an alias); undefined if none. */
export function ecosystemNamed(name: string): Ecosystem | undefined {
  return findEcosystem(name, ECOSYSTEMS);
}
