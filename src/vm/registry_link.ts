// How a VM and the host registry find each other: whether one runs (and where containers reach
// it), starting it for `vm create` when a VM wants it, and the health of the link as seen from
// inside a VM (latency) and by the registry (that VM's own hit ratio, counted by its address).
import { resolveDataDir } from "../config/settings.ts";
import { findServer, type ServerRecord } from "../daemon/server_record.ts";
import { dockerBridgeAddresses } from "../daemon/docker_bridge.ts";
import { launchInBackground, startChoices } from "../daemon/registry_start.ts";
import { readToken } from "../registry/auth.ts";
import type { ClientCounters } from "../registry/client_stats.ts";
import { savingRatio, sumCounters } from "../registry/counters.ts";
import { execCaptured, type VmInfo } from "./docker_provider.ts";
import { registryUrlForVm } from "./provision.ts";

export async function runningRegistry(): Promise<ServerRecord | undefined> {
  const found = await findServer(await resolveDataDir());
  return found.state === "running" ? found.record : undefined;
}

/** Why containers cannot reach a running registry, or undefined when they can. */
export function unreachableFromContainers(record: ServerRecord): string | undefined {
  const bridges = dockerBridgeAddresses();
  const addresses = record.addresses ?? [record.hostname];
  if (addresses.some((a) => a === "0.0.0.0" || a === "::" || bridges.includes(a))) return undefined;
  if (bridges.length === 0) return undefined; // no docker0: Docker Desktop forwards host-gateway
  return `the registry listens on ${addresses.join(", ")} only, which containers cannot reach; ` +
    "restart it so it also listens on the Docker bridge: vm pkg stop && vm pkg start";
}

export async function startRegistryForVms(): Promise<ServerRecord> {
  const { record } = await launchInBackground(await startChoices({}));
  return record;
}

export interface RegistryHealth {
  connected: boolean;
  latencyMs?: number;
  cacheHits: number;
  cacheMisses: number;
  /** hits / (hits + misses), undefined before the VM asked for anything. */
  hitRatio?: number;
  /** Bytes the registry sent this VM. */
  servedBytes: number;
  /** Bytes the registry fetched upstream for this VM's requests. */
  upstreamBytes: number;
  /** What this VM would have downloaded from the public registries without the registry. */
  directBytes: number;
  /** 1 - upstreamBytes / directBytes; null before the VM got anything public. */
  savingRatio: number | null;
  error?: string;
}

/** The link from one VM: a timed health request from inside it, and its counters. */
export async function registryHealth(vm: VmInfo, record: ServerRecord): Promise<RegistryHealth> {
  const url = `${registryUrlForVm(record.port)}/-/health`;
  // curl's own timing excludes `docker exec` start-up; python3 is the fallback in the image.
  const probe = await execCaptured(vm.container, [
    "sh",
    "-c",
    'if command -v curl >/dev/null; then curl -fsS -o /dev/null -m 5 -w "%{time_total}" "$1"; ' +
    'else python3 -c "import sys,time,urllib.request as u; t=time.time(); ' +
    'u.urlopen(sys.argv[1], timeout=5).read(); print(time.time()-t)" "$1"; fi',
    "probe",
    url,
  ]);
  // A VM on several networks is one client per address.
  const counters = sumCounters(await clientCounters(record, vm.addresses));
  const hits = counters.cacheHits;
  const misses = counters.cacheMisses;
  const base = {
    cacheHits: hits,
    cacheMisses: misses,
    hitRatio: hits + misses > 0 ? hits / (hits + misses) : undefined,
    servedBytes: counters.servedBytes,
    upstreamBytes: counters.upstreamBytes,
    directBytes: counters.directBytes,
    savingRatio: savingRatio(counters),
  };
  if (probe.code !== 0) {
    return { ...base, connected: false, error: probe.stderr.trim().split("\n").pop() };
  }
  return { ...base, connected: true, latencyMs: Math.round(Number(probe.stdout.trim()) * 1000) };
}

async function clientCounters(
  record: ServerRecord,
  addresses: string[],
): Promise<ClientCounters[]> {
  // Other clients' counters are shown to the host (loopback) or with the token; a registry in a
  // container sees the host as the bridge gateway, so the token goes along.
  const token = await resolveDataDir().then(readToken).catch(() => undefined);
  const out: ClientCounters[] = [];
  for (const address of addresses) {
    try {
      const response = await fetch(`${record.url}/-/clients?address=${address}`, {
        headers: token ? { authorization: `Bearer ${token}` } : {},
        signal: AbortSignal.timeout(3000),
      });
      const body = await response.json();
      if (body.clients?.[address]) out.push(body.clients[address]);
    } catch {
      // no counters for this address
    }
  }
  return out;
}
