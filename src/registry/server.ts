// The registry server: opens the store, builds every ecosystem of the list (ecosystems.ts) on it,
// puts their routes and its own in one route table, and serves it. A request reads top to bottom:
// route table → the skeleton (dispatch.ts) → the ecosystem's route → store (hit) or upstream
// (miss).
import { dataLayout, secureDataDir } from "../store/data_dir.ts";
import { BlobStore } from "../store/blob_store.ts";
import { type CacheAreas, CacheLimit } from "../store/cache_limit.ts";
import { type AdjustableClock, systemClock } from "../store/clock.ts";
import { RenderedDocuments } from "../store/rendered_documents.ts";
import {
  DEFAULT_LIMITS,
  DEFAULT_TIMEOUTS,
  type UpstreamTimeouts,
} from "../upstream/http_client.ts";
import { UpstreamHealth } from "../upstream/health.ts";
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
import { type Ecosystem, upstreamUrls } from "./ecosystem.ts";
import { ECOSYSTEMS } from "./ecosystems.ts";
import {
  DEFAULT_HOST,
  DEFAULT_METADATA_MAX_STALE_SECONDS,
  DEFAULT_METADATA_TTL_SECONDS,
  DEFAULT_PORT,
} from "./defaults.ts";
import { cachedPackages, PrivateAdmin } from "./private_admin.ts";
import { errorResponse, SERVER_NAMES, serverBaseUrls } from "./http.ts";
import { consoleLogger, type Logger } from "./logger.ts";
import { RouteTable } from "./route_table.ts";
import { dispatcher } from "./dispatch.ts";
import { serverRoutes } from "./server_routes.ts";
import { dashboard } from "./dashboard/routes.ts";
import type { RegistryStatus } from "./status.ts";
import { savingRatio, sumCounters } from "./counters.ts";
import { Stats } from "./stats.ts";
import { TrafficHistory } from "./traffic_history.ts";

export {
  DEFAULT_HOST,
  DEFAULT_METADATA_MAX_STALE_SECONDS,
  DEFAULT_METADATA_TTL_SECONDS,
  DEFAULT_PORT,
} from "./defaults.ts";

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
  /**
   * Upstream URLs by setting key (`npm_upstream`, `cargo_files_upstream`…: each ecosystem's
   * `upstreams`); every one not given is its default.
   */
  upstreams?: Readonly<Record<string, string>>;
  /** The ecosystems served; absent: all of ECOSYSTEMS (tests add one of their own). */
  ecosystems?: readonly Ecosystem[];
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

export type { PrivateStatusField, RegistryStatus, ReportedStatus } from "./status.ts";

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
  const ecosystems = options.ecosystems ?? ECOSYSTEMS;
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
  const stats = await Stats.load(kv, ecosystems.map((each) => each.id));
  const cacheLimit = new CacheLimit(
    kv,
    blobs,
    options.maxCacheBytes ?? null,
    clock,
    cacheAreas(ecosystems),
    { rendered, onError: (message) => log.error(message) },
  );
  const startedAt = Date.now();
  const ttlSeconds = options.metadataTtlSeconds ?? DEFAULT_METADATA_TTL_SECONDS;
  const maxStaleSeconds = options.metadataMaxStaleSeconds ?? DEFAULT_METADATA_MAX_STALE_SECONDS;

  let port = options.port ?? DEFAULT_PORT;
  // Every ecosystem's upstream URLs by name: /-/status `upstreams`, and whose health is kept.
  const upstreams: Record<string, string> = Object.assign(
    {},
    ...ecosystems.map((ecosystem) => upstreamUrls(ecosystem, options.upstreams)),
  );
  const health = new UpstreamHealth(upstreams, clock);
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
    health,
    get fallbackHost() {
      return `${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`;
    },
  };
  // Each ecosystem on the shared services, with its own counters, upstream client and caches.
  const running = ecosystems.map((ecosystem) => {
    const urls = upstreamUrls(ecosystem, options.upstreams);
    const ctx = ecosystemContext(shared, ecosystem.id, Object.values(urls));
    return { ecosystem, urls, ctx, service: ecosystem.create(ctx, urls) };
  });
  await Promise.all(running.map(({ service }) => service.init?.()));
  let url = "";

  const status = async (): Promise<RegistryStatus> => {
    const usage = await cacheLimit.usage();
    const totals = sumCounters(ecosystems.map(({ id }) => stats.snapshot(id)));
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
      upstreamHealth: health.snapshot(),
      connections: gate.figures(),
      ecosystems: Object.fromEntries(
        await Promise.all(running.map(async ({ ecosystem, ctx, service }) => {
          const cached = await cachedPackages(kv, ecosystem);
          return [ecosystem.id, {
            ...stats.snapshot(ecosystem.id),
            packages: cached.length,
            cachedBytes: cached.reduce((sum, each) => sum + each.bytes, 0),
            documents: await ctx.countRecords(ecosystem.documents),
            privatePackages: service.privates?.count() ?? 0,
          }];
        })),
      ),
    };
  };

  const privateAdmin = new PrivateAdmin(kv, auth, running);
  const history = new TrafficHistory(kv, clock);
  const recordTraffic = () =>
    history.record(sumCounters(ecosystems.map(({ id }) => stats.snapshot(id))))
      .catch((error) => log.warn(`cannot record the traffic history: ${error}`));
  const board = dashboard({
    // The overview draws the figures of this moment: this hour's record is brought up to date.
    traffic: () => recordTraffic().then(() => history.samples()),
    kv,
    auth,
    privateAdmin,
    clients: stats.clients,
    ecosystems: running,
    status,
    url: () => url,
  });
  // One table: the server's routes, `/-/packages`, the dashboard, then each ecosystem's under its
  // prefix.
  const table = new RouteTable();
  table.add(
    undefined,
    serverRoutes({
      auth,
      cacheLimit,
      clients: stats.clients,
      ecosystems,
      status,
      url: () => url,
      routes: () => table.list(),
      testClock: options.testClock,
      overviewPage: board.overview,
    }),
  );
  table.add(undefined, privateAdmin.routes());
  table.add(undefined, board.routes);
  for (const { ecosystem, ctx, service } of running) {
    table.add({
      ecosystem: ecosystem.id,
      prefix: ecosystem.prefix,
      formatError: ecosystem.formatError,
      unmatched: ecosystem.unmatched,
      count: () => ctx.stats.add("requests"),
    }, service.routes);
  }
  const dispatch = dispatcher(table, log);

  const handler = async (request: Request, info: { remoteAddr: Deno.NetAddr }) => {
    const started = performance.now();
    let response: Response;
    try {
      const client = info.remoteAddr.hostname;
      response = await stats.clients.timed(client, () => dispatch(request, client));
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
  await recordTraffic();
  // A minute's lag on the chart is nothing; a KV write per request would be.
  const historyTimer = setInterval(recordTraffic, 60_000);
  cacheLimit.start();
  // Stale renderings go, and a limit lowered since the last run applies at once.
  cacheLimit.afterStart();

  let stopping: Promise<void> | undefined;
  const shutdown = () =>
    stopping ??= (async () => {
      // Stops accepting, closes idle connections, lets requests and downloads finish.
      await Promise.all([server, ...extraServers].map((each) => each.shutdown()));
      await Promise.all(running.map(({ service }) => service.idle()));
      await rendered.idle();
      await cacheLimit.close();
      clearInterval(historyTimer);
      await recordTraffic();
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

/** What the cache limit must know of the ecosystems: where their file records are. */
function cacheAreas(ecosystems: readonly Ecosystem[]): CacheAreas {
  return {
    publicFiles: ecosystems.map((each) => each.cachedFiles),
    privateOwners: ecosystems.map((each) => each.id),
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
