// cargo as one value: the sparse registry and its web API under /cargo/ (handler.ts), its two
// upstreams (the index and the .crate files), what it caches, the error shape cargo reads
// (errors.ts) and how cargo is pointed at it (client_config.ts).
import type { Ecosystem } from "../ecosystem.ts";
import { cargoClients, cargoSparseIndexUrl } from "./client_config.ts";
import { cargoError } from "./errors.ts";
import {
  CARGO_PREFIX,
  CargoRegistry,
  CRATE_FILES,
  DEFAULT_CARGO_FILES,
  DEFAULT_CARGO_INDEX,
  INDEX_FILES,
} from "./handler.ts";

export const cargo: Ecosystem = {
  id: "cargo",
  prefix: CARGO_PREFIX,
  clientUrl: cargoSparseIndexUrl,
  upstreams: [
    {
      key: "cargo_upstream",
      name: "cargo",
      default: DEFAULT_CARGO_INDEX,
      meaning: "upstream cargo sparse index",
    },
    {
      key: "cargo_files_upstream",
      name: "cargoFiles",
      default: DEFAULT_CARGO_FILES,
      meaning: "where .crate files come from",
    },
  ],
  cachedFiles: CRATE_FILES,
  documents: INDEX_FILES,
  formatError: cargoError,
  unmatched: (path) => ({ status: 404, message: `not a cargo registry path: ${path}` }),
  create: (ctx, upstreams) =>
    new CargoRegistry(ctx, { indexUpstream: upstreams.cargo, filesUpstream: upstreams.cargoFiles }),
  clients: cargoClients,
};
