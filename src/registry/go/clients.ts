// How the go command is pointed at the registry: GOPROXY, for `vm pkg use`/`exec` and in a VM
// user's go env file (what `go env -w GOPROXY=…` writes). The checksum database comes through the
// registry too: the go command asks its proxy whether it passes it through, and GOSUMDB stays
// Go's default (sum.golang.org). GONOSUMDB/GOPRIVATE are the user's.
import { join } from "node:path";
import { type ClientSetup, WRITTEN_BY_VM } from "../ecosystem.ts";

/** Go's own default GOPROXY: where the go command goes when no registry is in the way. */
export const PUBLIC_GOPROXY = "https://proxy.golang.org,direct";

/**
 * The registry's GOPROXY, alone: no `,direct` after it, which would turn every 404 into a fetch
 * straight from the module's repository, past the cache and its checks. When the registry is
 * down, the clients get Go's own default instead (`publicEnv`).
 */
export function goProxyUrl(baseUrl: string): string {
  return `${baseUrl.replace(/\/+$/, "")}/go`;
}

export const goClients: ClientSetup = {
  commands: [{
    name: "go",
    shellFunction: true,
    env: (registry) => ({ GOPROXY: goProxyUrl(registry.baseUrl) }),
    publicEnv: { GOPROXY: PUBLIC_GOPROXY },
  }],
  // The go command skips lines that do not start with a variable name, like the marker.
  userFiles: (registry) => ({
    ".config/go/env": `${WRITTEN_BY_VM}\nGOPROXY=${goProxyUrl(registry.baseUrl)}\n`,
  }),
  // Go has no project-level proxy setting: go.mod cannot name one, and `go env -w` writes the
  // user-wide file. So nothing is written into a Go project; `vm pkg start` says so.
  projectFiles: async (dir, _registry, probe) => {
    const goMod = join(dir, "go.mod");
    if (!await probe.exists(goMod)) return [];
    return [{
      path: goMod,
      leftAlone: "Go has no project-level setting for its proxy (only the environment and the " +
        "user-wide `go env -w`): use `vm pkg use` or `vm pkg exec go …`",
    }];
  },
};
