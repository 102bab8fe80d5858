// Who a workload is measured through: the public registry, `vm pkg`, and the caching registries
// of other projects (the peers), each server cold (fresh storage) and warm (filled by an earlier
// run), and `vm pkg` also warm past its metadata TTL. A server under test is one small interface
// whatever it is, so the rounds in main.ts treat them alike.
import { join } from "node:path";
import type { PeerOptions, PeerTraffic, RunningPeer } from "./peers/peer.ts";
import { DEVPI_DESCRIPTION, installDevpi, startDevpi } from "./peers/devpi.ts";
import { installVerdaccio, startVerdaccio, VERDACCIO_DESCRIPTION } from "./peers/verdaccio.ts";
import { freeLoopbackPort } from "./peers/process.ts";
import { BenchServer, type Ecosystem, type EcosystemCounters } from "./registry_server.ts";

export const CONTENDERS = ["public", "vm", "verdaccio", "devpi"] as const;
export type Contender = typeof CONTENDERS[number];
/** The contenders that are a server on this machine. */
export type ServerContender = Exclude<Contender, "public">;
export type PeerName = Exclude<ServerContender, "vm">;
/**
 * `cold`: a new server on empty storage. `warm`: the server an earlier run filled. `stale`: that
 * same warm server with its clock moved past the metadata TTL, so every document is answered from
 * the cache while it is refreshed upstream in the background.
 */
export const TEMPERATURES = ["cold", "warm", "stale"] as const;
export type Temperature = typeof TEMPERATURES[number];
/** The temperatures that reuse the warm server rather than start a new one. */
export type WarmTemperature = Exclude<Temperature, "cold">;
/** A peer's clock cannot be moved (vm pkg's can, with VM_PKG_TEST_CLOCK): no stale way. */
type PeerTemperature = Exclude<Temperature, "stale">;
/** `public`, or a server contender at a temperature: `vm-cold`, `vm-stale`, `verdaccio-warm`, ... */
export type Way = "public" | `vm-${Temperature}` | `${PeerName}-${PeerTemperature}`;

/** How the report names each contender. */
export const CONTENDER_LABELS: Readonly<Record<ServerContender, string>> = {
  vm: "vm pkg",
  verdaccio: "Verdaccio",
  devpi: "devpi",
};

/** What each peer is and how it is configured, for the report's method. */
export const PEER_DESCRIPTIONS: Readonly<Record<PeerName, string>> = {
  verdaccio: VERDACCIO_DESCRIPTION,
  devpi: DEVPI_DESCRIPTION,
};

const PEERS: Readonly<
  Record<PeerName, {
    start(options: PeerOptions): Promise<RunningPeer>;
    install(workDir: string): Promise<unknown>;
  }>
> = {
  verdaccio: { start: startVerdaccio, install: installVerdaccio },
  devpi: { start: startDevpi, install: installDevpi },
};

/** The temperatures `contender` is measured at. */
export function temperaturesOf(contender: ServerContender): readonly Temperature[] {
  return contender === "vm" ? TEMPERATURES : TEMPERATURES.filter((t) => t !== "stale");
}

/**
 * The ways of `contenders`, in a fixed order: public, then each server cold and warm (vm pkg also
 * stale).
 */
export function waysOf(contenders: readonly Contender[]): Way[] {
  return contenders.flatMap((contender): Way[] =>
    contender === "public"
      ? ["public"]
      : temperaturesOf(contender).map((t) => `${contender}-${t}` as Way)
  );
}

export function splitWay(way: Way): { contender: Contender; temperature: Temperature | null } {
  if (way === "public") return { contender: "public", temperature: null };
  const [contender, temperature] = way.split("-") as [ServerContender, Temperature];
  return { contender, temperature };
}

/** A running server under test, `vm pkg` or a peer, set up for one workload's client. */
export interface ServerUnderTest {
  readonly contender: ServerContender;
  /** e.g. "vm pkg", "verdaccio 5.33.0". */
  readonly name: string;
  readonly pid: number;
  /** What the workload's client is given: a registry or index URL. */
  readonly clientUrl: string;
  /** Its data dir, removed after it stops. */
  readonly dataDir: string;
  readonly logFile: string;
  /** Set for `vm pkg`: the counters and the request log come from it. */
  readonly vm?: BenchServer;
  /** Set for a peer: what its log says it did between two times (ms since epoch). */
  traffic?(from: number, to: number): Promise<PeerTraffic | undefined>;
  stop(): Promise<void>;
}

export interface StartRequest {
  contender: ServerContender;
  /** A fresh, empty directory for this server's storage (cold, or the warm server's first start). */
  dataDir: string;
  logFile: string;
  /** Where the peers keep their installed software between benchmark runs. */
  peersDir: string;
  clientUrlOf(server: BenchServer): string;
  logRequests: boolean;
}

export async function startServer(request: StartRequest): Promise<ServerUnderTest> {
  const { contender, dataDir, logFile } = request;
  if (contender === "vm") {
    const vm = await BenchServer.start(dataDir, logFile, { logRequests: request.logRequests });
    return {
      contender,
      name: CONTENDER_LABELS.vm,
      pid: vm.pid,
      clientUrl: request.clientUrlOf(vm),
      dataDir,
      logFile,
      vm,
      stop: () => vm.stop(),
    };
  }
  const peer = await PEERS[contender].start({
    workDir: join(request.peersDir, contender),
    port: freeLoopbackPort(),
    fresh: true,
    dataDir,
    logFile,
  });
  return {
    contender,
    name: peer.name,
    pid: peer.pid,
    clientUrl: peer.clientUrl,
    dataDir,
    logFile,
    traffic: peer.traffic?.bind(peer),
    stop: () => peer.stop(),
  };
}

/**
 * Installs a peer's software before any workload runs, so that a peer that cannot be installed
 * fails the benchmark in its first minute rather than after the earlier workloads.
 */
export async function preparePeer(name: PeerName, peersDir: string): Promise<void> {
  await PEERS[name].install(join(peersDir, name));
}

/** Counters of `vm pkg` for one ecosystem, or undefined for a peer. */
export function vmCounters(
  server: ServerUnderTest,
  ecosystem: Ecosystem,
): Promise<EcosystemCounters | undefined> {
  return server.vm ? server.vm.counters(ecosystem) : Promise.resolve(undefined);
}
