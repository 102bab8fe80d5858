// PyPI as one value: the Simple API and uploads under /pypi/ (handler.ts), its two upstreams (the
// index and the files host), what it caches and how pip and uv are pointed at it (clients.ts).
import type { Ecosystem } from "../ecosystem.ts";
import { pypiClients, pypiIndexUrl } from "./clients.ts";
import {
  DEFAULT_PYPI_FILES,
  DEFAULT_PYPI_INDEX,
  PROJECT_PAGES,
  PYPI_FILES,
  PYPI_PREFIX,
  PypiRegistry,
} from "./handler.ts";

export const pypi: Ecosystem = {
  id: "pypi",
  aliases: ["pip"],
  prefix: PYPI_PREFIX,
  clientUrl: pypiIndexUrl,
  upstreams: [
    {
      key: "pypi_upstream",
      name: "pypi",
      default: DEFAULT_PYPI_INDEX,
      meaning: "upstream PyPI Simple API",
    },
    {
      key: "pypi_files_upstream",
      name: "pypiFiles",
      default: DEFAULT_PYPI_FILES,
      meaning: "host PyPI files come from",
    },
  ],
  cachedFiles: PYPI_FILES,
  documents: PROJECT_PAGES,
  unmatched: (path) => ({ status: 404, message: `not a PyPI Simple API path: ${path}` }),
  create: (ctx, upstreams) =>
    new PypiRegistry(ctx, { indexUpstream: upstreams.pypi, filesUpstream: upstreams.pypiFiles }),
  clients: pypiClients,
};
