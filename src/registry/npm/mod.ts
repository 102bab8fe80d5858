// npm as one value: the registry protocol under /npm/ (handler.ts), its upstream, what it caches
// and how npm, pnpm and yarn are pointed at it (clients.ts).
import type { Ecosystem } from "../ecosystem.ts";
import { npmClients, npmRegistryUrl } from "./clients.ts";
import { NPM_PREFIX, NpmRegistry, PACKUMENTS, TARBALLS } from "./handler.ts";

export const DEFAULT_NPM_UPSTREAM = "https://registry.npmjs.org";

export const npm: Ecosystem = {
  id: "npm",
  prefix: NPM_PREFIX,
  clientUrl: npmRegistryUrl,
  upstreams: [{
    key: "npm_upstream",
    name: "npm",
    default: DEFAULT_NPM_UPSTREAM,
    meaning: "upstream npm registry",
  }],
  cachedFiles: TARBALLS,
  documents: PACKUMENTS,
  unmatched: (path) => {
    const rest = path.slice(NPM_PREFIX.length + 1);
    if (rest.startsWith("-/package/")) {
      return { status: 400, message: `not a valid dist-tags path: ${path}` };
    }
    if (rest.startsWith("-/")) return { status: 404, message: `vm pkg does not serve ${path}` };
    return { status: 400, message: `not a valid npm package path: ${path}` };
  },
  create: (ctx, upstreams) => new NpmRegistry(ctx, { upstream: upstreams.npm }),
  clients: npmClients,
};
