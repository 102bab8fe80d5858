// Go modules as one value: the GOPROXY protocol and the checksum database passed through under
// /go/ (handler.ts), its upstream (a module proxy, which proxies sum.golang.org too), what it
// caches, the plain-text errors the go command shows (errors.ts) and how the go command is pointed
// at it (clients.ts).
import type { Ecosystem } from "../ecosystem.ts";
import { goClients, goProxyUrl } from "./clients.ts";
import { goError } from "./errors.ts";
import {
  DEFAULT_GO_UPSTREAM,
  GO_PREFIX,
  GoRegistry,
  MODULE_DOCUMENTS,
  MODULE_FILES,
} from "./handler.ts";
import { parseGoPath } from "./names.ts";

export const go: Ecosystem = {
  id: "go",
  prefix: GO_PREFIX,
  clientUrl: goProxyUrl,
  upstreams: [{
    key: "go_upstream",
    name: "go",
    default: DEFAULT_GO_UPSTREAM,
    meaning: "Go module proxy (it also passes the checksum database through)",
  }],
  cachedFiles: MODULE_FILES,
  documents: MODULE_DOCUMENTS,
  formatError: goError,
  // A path no route takes: why, as parseGoPath says (an invalid module path or version is a 400).
  unmatched: (path) => {
    const parsed = parseGoPath(path.slice(GO_PREFIX.length + 1));
    return parsed.kind === "problem"
      ? { status: parsed.status, message: parsed.message }
      : { status: 404, message: `not a GOPROXY path: ${path}` };
  },
  create: (ctx, upstreams) => new GoRegistry(ctx, { upstream: upstreams.go }),
  clients: goClients,
};
