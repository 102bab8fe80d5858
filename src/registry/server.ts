// The registry server: opens the store, builds one handler per ecosystem, and routes requests.
// A request reads top to bottom: route → ecosystem handler → store (hit) or upstream (miss).
import { dataLayout, secureDataDir } from "../store/data_dir.ts";
import { BlobStore } from "../store/blob_store.ts";
import { CacheLimit, type CacheUsage } from "../store/cache_limit.ts";
import { type AdjustableClock, systemClock } from "../store/clock.ts";
import { RenderedDocuments } from "../store/rendered_documents.ts";
import {
  DEFAULT_LIMITS,
  DEFAULT_TIMEOUTS,
  type UpstreamTimeouts,
} from "../upstream/http_client.ts";
import { VERSION } from "../version.ts";
import { loadOrCreateToken, WriteAuth } from "./auth.ts";
import {
  type ConnectionFigures,
  ConnectionGate,
  type ConnectionLimits,
  DEFAULT_HEADER_TIMEOUT_SECONDS,
  DEFAULT_IDLE_TIMEOUT_SECONDS,
  DEFAULT_REQUEST_TIMEOUT_SECONDS,
  descriptorLimit,
  type HttpListener,
  listenHttp,
  maxConnectionsFor,
} from "./listener.ts";
import { ecosystemContext, type SharedServices } from "./context.ts";
import type { EcosystemRegistry } from "./ecosystem.ts";
import { cachedPackages, type EcosystemType, PrivateAdmin } from "./private_admin.ts";
import { parseJsonBody, readLimitedBody } from "./request_body.ts";
import { errorResponse, jsonResponse, SERVER_NAMES, serverBaseUrls } from "./http.ts";
import { consoleLogger, type Logger } from "./logger.ts";
import { NpmRegistry } from "./npm/handler.ts";
import { DEFAULT_PYPI_FILES, DEFAULT_PYPI_INDEX, PypiRegistry } from "./pypi/handler.ts";
import { CargoRegistry, DEFAULT_CARGO_FILES, DEFAULT_CARGO_INDEX } from "./cargo/handler.ts";
import { type EcosystemCounters, savingRatio, sumCounters } from "./counters.ts";
import { Stats } from "./stats.ts";

export const DEFAULT_PORT = 3080;
export const DEFAULT_HOST = "127.0.0.1";
export const DEFAULT_NPM_UPSTREAM = "https://registry.npmjs.org";
export const DEFAULT_METADATA_TTL_SECONDS = 300;
/** Three days: a Friday's cache still answers at once on Monday, refreshed behind the scenes. */
export const DEFAULT_METADATA_MAX_STALE_SECONDS = 3 * 86400;

export interface RegistryOptions {
  dataDir: string;
  hostname?: string;
  /**
   * More addresses to listen on besides `hostname`, e.g. the Docker bridge gateway so containers
   * reach the registry without it listening on every interface. One that cannot be bound is
   * logged and skipped: the registry still serves the host.
   */
  alsoListenOn?: string[];
  /** 0 picks a free port (tests). */
  port?: number;
  npmUpstream?: string;
  /** The PyPI Simple API root, e.g. https://pypi.org/simple */
  pypiUpstream?: string;
  /** The host PyPI's files come from. */
  pypiFilesUpstream?: string;
  /** The cargo sparse index root, e.g. https://index.crates.io */
  cargoUpstream?: string;
  /** Where .crate files come from, e.g. https://static.crates.io/crates */
  cargoFilesUpstream?: string;
  metadataTtlSeconds?: number;
  /** How long past the TTL metadata is answered at once while refreshed in the background. */
  metadataMaxStaleSeconds?: number;
  /** Never contact an upstream; a miss answers 503. */
  offline?: boolean;
  /** Evict least recently used public files past this many bytes; null or absent: no limit. */
  maxCacheBytes?: number | null;
  /**
   * @deprecated Ignored: recent use no longer spares a file from eviction (only a request about
   * to open it, or a client following its download, does).
   */
  evictionGraceMs?: number;
  /**
   * More names (host, or host:port when reached on another port) clients reach this server by,
   * whose rendered documents are kept on disk like those of its listen addresses, localhost and
   * host.docker.internal. A request through any other Host gets its URLs rendered for it alone.
   */
  serverNames?: string[];
  /**
   * A clock tests move forward (`POST /-/test/clock`, token required) to make days pass in a
   * running server; absent: the system clock, and the route does not exist.
   */
  testClock?: AdjustableClock;
  timeouts?: UpstreamTimeouts;
  /** The largest upstream document read, after decompression (max_document_size). */
  maxDocumentBytes?: number;
  /** The largest package file read when its Content-Length and index say nothing less. */
  maxFileBytes?: number;
  /**
   * Client connections open at once over every listen address (max_connections); absent: from
   * the process's open-file limit, well below it.
   */
  maxConnections?: number;
  /** Seconds a connection has to send a complete request head (header_timeout). */
  headerTimeoutSeconds?: number;
  /**
   * Seconds a kept-alive connection waits for its next request, and a request or response may go
   * without a byte moving either way (idle_timeout).
   */
  idleTimeoutSeconds?: number;
  /** Seconds a whole request, head and body, may take to arrive (request_timeout). */
  requestTimeoutSeconds?: number;
  logger?: Logger;
}

export interface RegistryStatus {
  version: string;
  pid: number;
  url: string;
  uptimeSeconds: number;
  dataDir: string;
  /** What counts against the limit: blobs, rendered documents and temp files (`bytes`, all). */
  cache: CacheUsage & { limit: number | null };
  /** Every ecosystem's counters summed, and the saving they add up to. */
  totals: EcosystemCounters & { savingRatio: number | null };
  /** The settings that decide what is served from where. */
  freshness: { ttlSeconds: number; maxStaleSeconds: number; offline: boolean };
  /** Where each ecosystem's documents and files come from. */
  upstreams: Record<string, string>;
  /** Client connections (absent from a server older than the connection cap). */
  connections?: ConnectionFigures;
  ecosystems: Record<
    string,
    EcosystemCounters & {
      /** Public packages with files in the cache (what `vm pkg list --cached` lists). */
      packages: number;
      /** Bytes of those files. */
      cachedBytes: number;
      /** Cached metadata documents (packuments, project pages, index files). */
      documents: number;
      privatePackages: number;
    }
  >;
}

/** The fields of the status only the host itself (loopback) and holders of the token get. */
export type PrivateStatusField = "pid" | "dataDir" | "upstreams";

/**
 * What /-/status answers: all of RegistryStatus to the host and the token; any other client (a VM
 * on the Docker bridge, another host) gets the figures without the private fields.
 */
export type ReportedStatus =
  & Omit<RegistryStatus, PrivateStatusField>
  & Partial<Pick<RegistryStatus, PrivateStatusField>>;

export interface RunningRegistry {
  url: string;
  hostname: string;
  port: number;
  /** Every address it listens on (hostname first). */
  addresses: string[];
  status(): Promise<RegistryStatus>;
  /** Stops accepting requests, lets in-flight ones and downloads finish, then closes the store. */
  shutdown(): Promise<void>;
  /** Resolves when the server has stopped, whoever stopped it. */
  finished: Promise<void>;
}

export async function startRegistry(options: RegistryOptions): Promise<RunningRegistry> {
  checkOptions(options);
  const layout = dataLayout(options.dataDir);
  const clock = options.testClock ?? systemClock;
  const hostname = options.hostname ?? DEFAULT_HOST;
  const log = options.logger ?? consoleLogger({ requests: false });
  for (const loose of await secureDataDir(layout.dataDir)) {
    log.warn(`the data dir is not the owner's only: cannot tighten ${loose}`);
  }
  const blobs = new BlobStore(layout.blobs, layout.tmp);
  await blobs.init();
  // Renderings are kept for this server's own names only (set once it listens: the port).
  let storedBases: ReadonlySet<string> = new Set();
  const rendered = new RenderedDocuments(layout.rendered, blobs, {
    storedBases: () => storedBases,
    // Renderings are written once requests arrive: cacheLimit exists by then.
    onStored: () => cacheLimit.afterStore(),
    onError: (message) => log.warn(message),
  });
  await rendered.init();
  const auth = new WriteAuth(await loadOrCreateToken(layout.dataDir));
  const kv = await Deno.openKv(layout.kv);
  const stats = await Stats.load(kv, ["npm", "pypi", "cargo"]);
  const cacheLimit = new CacheLimit(kv, blobs, options.maxCacheBytes ?? null, clock, {
    rendered,
    onError: (message) => log.error(message),
  });
  const startedAt = Date.now();
  const ttlSeconds = options.metadataTtlSeconds ?? DEFAULT_METADATA_TTL_SECONDS;
  const maxStaleSeconds = options.metadataMaxStaleSeconds ?? DEFAULT_METADATA_MAX_STALE_SECONDS;

  let port = options.port ?? DEFAULT_PORT;
  const shared: SharedServices = {
    kv,
    blobs,
    rendered,
    stats,
    log,
    clock,
    metadataTtlMs: ttlSeconds * 1000,
    metadataMaxStaleMs: maxStaleSeconds * 1000,
    offline: options.offline ?? false,
    timeouts: options.timeouts ?? DEFAULT_TIMEOUTS,
    limits: {
      maxDocumentBytes: options.maxDocumentBytes ?? DEFAULT_LIMITS.maxDocumentBytes,
      maxFileBytes: options.maxFileBytes ?? DEFAULT_LIMITS.maxFileBytes,
    },
    auth,
    cacheLimit,
    get fallbackHost() {
      return `${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`;
    },
  };
  const upstreams = {
    npm: options.npmUpstream ?? DEFAULT_NPM_UPSTREAM,
    pypi: options.pypiUpstream ?? DEFAULT_PYPI_INDEX,
    pypiFiles: options.pypiFilesUpstream ?? DEFAULT_PYPI_FILES,
    cargo: options.cargoUpstream ?? DEFAULT_CARGO_INDEX,
    cargoFiles: options.cargoFilesUpstream ?? DEFAULT_CARGO_FILES,
  };
  const npm = new NpmRegistry(ecosystemContext(shared, "npm", [upstreams.npm]), {
    upstream: upstreams.npm,
  });
  const pypi = new PypiRegistry(
    ecosystemContext(shared, "pypi", [upstreams.pypi, upstreams.pypiFiles]),
    {
      indexUpstream: upstreams.pypi,
      filesUpstream: upstreams.pypiFiles,
    },
  );
  const cargo = new CargoRegistry(
    ecosystemContext(shared, "cargo", [upstreams.cargo, upstreams.cargoFiles]),
    {
      indexUpstream: upstreams.cargo,
      filesUpstream: upstreams.cargoFiles,
    },
  );
  const ecosystems: { name: string; prefix: string; registry: EcosystemRegistry }[] = [
    { name: "npm", prefix: NpmRegistry.prefix, registry: npm },
    { name: "pypi", prefix: PypiRegistry.prefix, registry: pypi },
    { name: "cargo", prefix: CargoRegistry.prefix, registry: cargo },
  ];
  await Promise.all(ecosystems.map(({ registry }) => registry.init()));
  const admin = new PrivateAdmin(kv, auth, { npm, pypi, cargo });
  let url = "";

  const status = async (): Promise<RegistryStatus> => {
    const usage = await cacheLimit.usage();
    const totals = sumCounters(ecosystems.map(({ name }) => stats.snapshot(name)));
    return {
      version: VERSION,
      pid: Deno.pid,
      url,
      uptimeSeconds: Math.floor((Date.now() - startedAt) / 1000),
      dataDir: layout.dataDir,
      cache: { ...usage, limit: cacheLimit.maxBytes },
      totals: { ...totals, savingRatio: savingRatio(totals) },
      freshness: { ttlSeconds, maxStaleSeconds, offline: shared.offline },
      upstreams,
      connections: gate.figures(),
      ecosystems: Object.fromEntries(
        await Promise.all(ecosystems.map(async ({ name, registry }) => {
          const cached = await cachedPackages(kv, name as EcosystemType, registry);
          return [name, {
            ...stats.snapshot(name),
            packages: cached.length,
            cachedBytes: cached.reduce((sum, each) => sum + each.bytes, 0),
            documents: await registry.documentCount(),
            privatePackages: registry.privates.count(),
          }];
        })),
      ),
    };
  };

  const route = async (request: Request, client: string): Promise<Response> => {
    const { pathname, searchParams } = new URL(request.url);
    if (pathname === "/-/packages" || pathname.startsWith("/-/packages/")) {
      return await admin.handle(request, pathname.slice("/-/packages".length), searchParams);
    }
    if (pathname === "/-/gc") {
      if (request.method !== "POST") return errorResponse(405, "POST /-/gc", { allow: "POST" });
      return auth.refusal(request) ?? jsonResponse(await cacheLimit.gc());
    }
    if (pathname === "/-/health") {
      return jsonResponse({ ok: true, version: VERSION, pid: Deno.pid });
    }
    if (pathname === "/-/status") {
      const full = await status();
      if (auth.mayInspect(request, client)) return jsonResponse(full);
      const { pid: _pid, dataDir: _dataDir, upstreams: _upstreams, ...figures } = full;
      return jsonResponse(figures);
    }
    if (pathname === "/-/test/clock" && options.testClock) {
      return await advanceTestClock(request, options.testClock, auth);
    }
    if (pathname === "/-/clients") {
      // Per source address (a VM's container IP): what `vm status` shows as a VM's hit ratio.
      // Every client's to the host and the token; anyone else sees only its own address.
      const address = searchParams.get("address") ?? undefined;
      if (auth.mayInspect(request, client)) {
        return jsonResponse({ clients: stats.clients.snapshot(address) });
      }
      const own = address === undefined || address === client;
      return jsonResponse({ clients: own ? stats.clients.snapshot(client) : {} });
    }
    for (const { prefix, registry } of ecosystems) {
      if (pathname.startsWith(`${prefix}/`)) {
        return await registry.handle(request, pathname.slice(prefix.length + 1));
      }
    }
    if (pathname === "/pypi") return Response.redirect(new URL("/pypi/simple/", request.url), 301);
    if (pathname === "/" || pathname === "") {
      return jsonResponse({
        name: "vm pkg",
        version: VERSION,
        npm: `${url}/npm/`,
        pypi: `${url}/pypi/simple/`,
        cargo: `sparse+${url}/cargo/index/`,
      });
    }
    return errorResponse(404, `no such route: ${pathname}`);
  };

  const handler = async (request: Request, info: { remoteAddr: Deno.NetAddr }) => {
    const started = performance.now();
    let response: Response;
    try {
      const client = info.remoteAddr.hostname;
      response = await stats.clients.run(client, () => route(request, client));
    } catch (error) {
      log.error(`${request.method} ${request.url}: ${(error as Error).stack ?? error}`);
      response = errorResponse(500, "internal error");
    }
    log.request(
      `${request.method} ${new URL(request.url).pathname} ${response.status} ${
        (performance.now() - started).toFixed(1)
      }ms`,
    );
    return response;
  };

  const onError = (error: unknown) => {
    log.error(`unhandled: ${(error as Error).stack ?? error}`);
  };
  // One cap over every listen address: descriptors are the process's.
  const limits = connectionLimits(options);
  const gate = new ConnectionGate({
    max: limits.maxConnections,
    idleTimeoutMs: limits.idleTimeoutMs,
    onCap: capLogger(log),
  });
  const listen = (address: string, onPort: number) =>
    listenHttp({ hostname: address, port: onPort, gate, limits, handler, onError });
  let server: HttpListener;
  try {
    server = await listen(hostname, port);
  } catch (error) {
    await stats.close();
    kv.close();
    if (error instanceof Deno.errors.AddrInUse) {
      throw new Error(`port ${port} on ${hostname} is already in use`);
    }
    if (error instanceof Deno.errors.AddrNotAvailable) {
      throw new Error(`cannot listen on ${hostname}: no such address on this machine`);
    }
    throw error;
  }
  port = server.addr.port;
  url = `http://${shared.fallbackHost}`;
  const extraServers: HttpListener[] = [];
  for (const address of new Set(options.alsoListenOn ?? [])) {
    if (address === hostname) continue;
    try {
      extraServers.push(await listen(address, port));
    } catch (error) {
      log.warn(`cannot also listen on ${address}:${port}: ${(error as Error).message}`);
    }
  }
  storedBases = serverBaseUrls(
    [
      hostname,
      ...extraServers.map((each) => each.addr.hostname),
      ...SERVER_NAMES,
      ...(options.serverNames ?? []),
    ],
    port,
    ecosystems.map(({ prefix }) => prefix),
  );
  stats.startAutoFlush();
  cacheLimit.start();
  // Stale renderings go, and a limit lowered since the last run applies at once.
  cacheLimit.afterStart();

  let stopping: Promise<void> | undefined;
  const shutdown = () =>
    stopping ??= (async () => {
      // Stops accepting, closes idle connections, lets requests and downloads finish.
      await Promise.all([server, ...extraServers].map((each) => each.shutdown()));
      await Promise.all(ecosystems.map(({ registry }) => registry.idle()));
      await rendered.idle();
      await cacheLimit.close();
      await stats.close();
      kv.close();
    })();

  return {
    url,
    hostname,
    port,
    addresses: [hostname, ...extraServers.map((each) => each.addr.hostname)],
    status,
    shutdown,
    finished: server.finished.then(() => stopping),
  };
}

/** The connection cap and timeouts, from the options or their defaults. */
function connectionLimits(options: RegistryOptions): ConnectionLimits {
  const headerTimeoutMs = 1000 * (options.headerTimeoutSeconds ?? DEFAULT_HEADER_TIMEOUT_SECONDS);
  return {
    maxConnections: options.maxConnections ?? maxConnectionsFor(descriptorLimit()),
    headerTimeoutMs,
    idleTimeoutMs: 1000 * (options.idleTimeoutSeconds ?? DEFAULT_IDLE_TIMEOUT_SECONDS),
    // A request's head is part of it: the whole cannot have less time than its head.
    requestTimeoutMs: Math.max(
      headerTimeoutMs,
      1000 * (options.requestTimeoutSeconds ?? DEFAULT_REQUEST_TIMEOUT_SECONDS),
    ),
  };
}

/** Says, at most once a minute, that the cap was reached and what was done about it. */
function capLogger(log: Logger): (figures: ConnectionFigures, refused: boolean) => void {
  let lastLogged = -Infinity;
  return (figures) => {
    const now = Date.now();
    if (now - lastLogged < 60_000) return;
    lastLogged = now;
    log.warn(
      `${figures.open} client connections open, the cap (max_connections ${figures.max}): ` +
        `connections without a request are closed to make room, new ones refused while all ` +
        `are busy (so far ${figures.evicted} closed, ${figures.refused} refused)`,
    );
  };
}

/**
 * Options come from the command line and the config file; a value of the wrong kind (a size that
 * arrived as text) must stop the start, not quietly mean "evict everything".
 */
function checkOptions(options: RegistryOptions): void {
  const limit = options.maxCacheBytes;
  if (limit !== undefined && limit !== null && !(Number.isSafeInteger(limit) && limit > 0)) {
    throw new TypeError(`maxCacheBytes must be a positive whole number of bytes or null: ${limit}`);
  }
  for (
    const [name, value] of [
      ["maxDocumentBytes", options.maxDocumentBytes],
      ["maxFileBytes", options.maxFileBytes],
    ] as const
  ) {
    if (value !== undefined && !(Number.isSafeInteger(value) && value > 0)) {
      throw new TypeError(`${name} must be a positive whole number of bytes: ${value}`);
    }
  }
  for (
    const [name, value] of [
      ["metadataTtlSeconds", options.metadataTtlSeconds],
      ["metadataMaxStaleSeconds", options.metadataMaxStaleSeconds],
    ] as const
  ) {
    if (value !== undefined && !(Number.isFinite(value) && value >= 0)) {
      throw new TypeError(`${name} must be a number of seconds: ${value}`);
    }
  }
  for (
    const [name, value] of [
      ["headerTimeoutSeconds", options.headerTimeoutSeconds],
      ["idleTimeoutSeconds", options.idleTimeoutSeconds],
      ["requestTimeoutSeconds", options.requestTimeoutSeconds],
    ] as const
  ) {
    if (value !== undefined && !(Number.isFinite(value) && value > 0)) {
      throw new TypeError(`${name} must be a positive number of seconds: ${value}`);
    }
  }
  const connections = options.maxConnections;
  if (connections !== undefined && !(Number.isSafeInteger(connections) && connections > 0)) {
    throw new TypeError(`maxConnections must be a positive whole number: ${connections}`);
  }
}

/** `POST /-/test/clock` `{"advanceSeconds": N}`: moves a test clock forward (token required). */
async function advanceTestClock(
  request: Request,
  clock: AdjustableClock,
  auth: WriteAuth,
): Promise<Response> {
  if (request.method !== "POST") return errorResponse(405, "POST /-/test/clock", { allow: "POST" });
  const refused = auth.refusal(request);
  if (refused) return refused;
  // A few bytes of JSON: read with a limit, like every other body.
  const body = await readLimitedBody(request, 1024)
    .then((bytes) => parseJsonBody(bytes, "the clock body") as { advanceSeconds?: unknown })
    .catch(() => undefined);
  const seconds = body?.advanceSeconds;
  if (typeof seconds !== "number" || !Number.isFinite(seconds) || seconds < 0) {
    return errorResponse(400, 'expected {"advanceSeconds": <seconds, 0 or more>}');
  }
  clock.advance(seconds * 1000);
  return jsonResponse({ offsetSeconds: clock.offsetMs / 1000 });
}
