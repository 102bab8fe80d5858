// The peer registries (Verdaccio for npm, devpi for PyPI), loaded only when their modules exist:
// they are written separately (bench/peers/verdaccio.ts, bench/peers/devpi.ts), and the load
// bench runs without them, saying so.
import type { PeerOptions, RunningPeer } from "../peers/peer.ts";

export type PeerName = "verdaccio" | "devpi";

export const PEER_MODULES: Record<PeerName, { file: string; exportName: string }> = {
  verdaccio: { file: "verdaccio.ts", exportName: "startVerdaccio" },
  devpi: { file: "devpi.ts", exportName: "startDevpi" },
};

export type StartPeer = (options: PeerOptions) => Promise<RunningPeer>;

/** The peer's start function, or why it is not available. */
export async function loadPeer(name: PeerName): Promise<StartPeer | { missing: string }> {
  const { file, exportName } = PEER_MODULES[name];
  const url = new URL(`../peers/${file}`, import.meta.url);
  try {
    await Deno.stat(url);
  } catch {
    return { missing: `bench/peers/${file} does not exist yet` };
  }
  // A computed specifier: the module may not exist when this file is type-checked.
  const module = await import(url.href) as Record<string, unknown>;
  const start = module[exportName];
  if (typeof start !== "function") {
    return { missing: `bench/peers/${file} does not export ${exportName}` };
  }
  return start as StartPeer;
}
