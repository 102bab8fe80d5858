// How npm, pnpm, yarn and npx are pointed at the registry: `npm_config_registry` (yarn berry reads
// its own variable and refuses plain http unless the host is allowed), `.npmrc` and `.yarnrc.yml`
// in a VM user's home, and `.npmrc` in a project with a package.json.
import { join } from "node:path";
import { type ClientCommand, type ClientSetup, WRITTEN_BY_VM } from "../ecosystem.ts";
import type { RegistryAddress } from "../ecosystem.ts";

export const PUBLIC_NPM_REGISTRY = "https://registry.npmjs.org/";

export function npmRegistryUrl(baseUrl: string): string {
  return `${baseUrl.replace(/\/+$/, "")}/npm/`;
}

const npmLike = (name: string, shellFunction: boolean): ClientCommand => ({
  name,
  shellFunction,
  env: (registry) => ({ npm_config_registry: npmRegistryUrl(registry.baseUrl) }),
  publicEnv: { npm_config_registry: PUBLIC_NPM_REGISTRY },
});

export const npmClients: ClientSetup = {
  commands: [
    npmLike("npm", true),
    npmLike("pnpm", true),
    {
      name: "yarn",
      shellFunction: true,
      // Classic yarn reads npm_config_registry; berry reads its own and refuses plain http
      // unless the host is allowed.
      env: (registry) => ({
        npm_config_registry: npmRegistryUrl(registry.baseUrl),
        YARN_NPM_REGISTRY_SERVER: npmRegistryUrl(registry.baseUrl),
        YARN_UNSAFE_HTTP_WHITELIST: registry.host,
      }),
      publicEnv: {
        npm_config_registry: PUBLIC_NPM_REGISTRY,
        YARN_NPM_REGISTRY_SERVER: PUBLIC_NPM_REGISTRY,
      },
    },
    npmLike("npx", false),
  ],
  userFiles: (registry: RegistryAddress) => {
    const url = npmRegistryUrl(registry.baseUrl);
    return {
      // npm and pnpm
      ".npmrc": `${WRITTEN_BY_VM}\nregistry=${url}\n`,
      // yarn berry (classic yarn reads .npmrc); plain http must be allowed for the host by name
      ".yarnrc.yml":
        `${WRITTEN_BY_VM}\nnpmRegistryServer: "${url}"\nunsafeHttpWhitelist:\n  - "${registry.host}"\n`,
    };
  },
  projectFiles: async (dir, registry, probe) => {
    if (!await probe.exists(join(dir, "package.json"))) return [];
    return [{
      path: join(dir, ".npmrc"),
      block: `registry=${npmRegistryUrl(registry.baseUrl)}\n`,
      conflict: (others) =>
        /^\s*registry\s*=/m.test(others) ? "it sets its own registry" : undefined,
    }];
  },
  projectFilePaths: (dir) => Promise.resolve([join(dir, ".npmrc")]),
};
