// `/-/packages`: the ecosystem-neutral view of private packages that `vm pkg list`, `remove` and
// `claim` use. Listing is open like every read; claiming and removing need the write token.
//
//   GET    /-/packages[?type=T]                       private packages and their versions
//   GET    /-/packages/cached[?type=T]                cached public packages with sizes
//   PUT    /-/packages/T/NAME/claim                   make NAME private before a native publish
//   DELETE /-/packages/T/NAME[?version=V][&reopen=true]
//          without version: every version goes, the name stays private unless reopen=true
//
// NAME is any spelling the ecosystem accepts: an npm scope as `@scope%2fname` or `@scope/name`,
// a PyPI name before PEP 503 normalization, a cargo name in any case and with `-` or `_`.
import { type PackageState, PrivatePackages } from "../store/private_packages.ts";
import type { WriteAuth } from "./auth.ts";
import type { EcosystemRegistry } from "./ecosystem.ts";
import { errorResponse, jsonResponse } from "./http.ts";

export type EcosystemType = "npm" | "pypi" | "cargo";
// A Map: the type comes from the client, and a plain object would answer `constructor`.
const TYPE_ALIASES = new Map<string, EcosystemType>([
  ["npm", "npm"],
  ["pypi", "pypi"],
  ["pip", "pypi"],
  ["cargo", "cargo"],
]);

export interface PrivateVersionSummary {
  version: string;
  publishedAt: string;
  files: { filename: string; size: number; sha256: string }[];
  yanked?: string | true;
  deprecated?: string;
}

export interface PrivatePackageSummary {
  type: EcosystemType;
  name: string;
  shadowsUpstream: boolean;
  distTags: Record<string, string>;
  createdAt: string;
  modifiedAt: string;
  versions: PrivateVersionSummary[];
}

export interface CachedPackageSummary {
  type: EcosystemType;
  name: string;
  files: number;
  bytes: number;
}

export class PrivateAdmin {
  constructor(
    private readonly kv: Deno.Kv,
    private readonly auth: WriteAuth,
    private readonly registries: Record<EcosystemType, EcosystemRegistry>,
  ) {}

  /** `path` is everything after `/-/packages`. */
  async handle(request: Request, path: string, query: URLSearchParams): Promise<Response> {
    const types = this.#types(query.get("type"));
    if (!types) {
      return errorResponse(400, `unknown type ${query.get("type")}: use npm, pypi or cargo`);
    }
    if (path === "" || path === "/") {
      if (request.method !== "GET") return methodNotAllowed(request, "GET");
      return jsonResponse({ packages: await this.#list(types) });
    }
    if (path === "/cached") {
      if (request.method !== "GET") return methodNotAllowed(request, "GET");
      return jsonResponse({ packages: await this.#cached(types) });
    }
    const segments = path.slice(1).split("/");
    const type = TYPE_ALIASES.get(segments[0]);
    const named = splitName(segments.slice(1));
    if (!type || !named) {
      return errorResponse(404, `no such route: /-/packages${path}`);
    }
    const registry = this.registries[type];
    const name = registry.canonicalName(named.name);
    if (!name) return errorResponse(400, `not a valid ${type} package name: ${named.name}`);
    const action = named.rest.join("/");
    if (action === "claim" && request.method === "PUT") {
      return this.auth.refusal(request) ?? await this.#claim(registry, type, name);
    }
    if (action === "" && request.method === "DELETE") {
      return this.auth.refusal(request) ??
        await this.#remove(
          registry,
          type,
          name,
          query.get("version"),
          query.get("reopen") === "true",
        );
    }
    if (action === "" && request.method === "GET") {
      const state = await registry.privates.state(name);
      if (!state) return errorResponse(404, `${name} is not a private ${type} package`);
      return jsonResponse(summarize(type, state));
    }
    return errorResponse(405, `${request.method} is not supported on /-/packages${path}`);
  }

  #types(value: string | null): EcosystemType[] | undefined {
    if (!value) return ["npm", "pypi", "cargo"];
    const type = TYPE_ALIASES.get(value);
    return type ? [type] : undefined;
  }

  async #list(types: EcosystemType[]): Promise<PrivatePackageSummary[]> {
    const lists = await Promise.all(types.map(async (type) => {
      const states = await this.registries[type].privates.list();
      return states.map((state) => summarize(type, state));
    }));
    return lists.flat();
  }

  async #cached(types: EcosystemType[]): Promise<CachedPackageSummary[]> {
    const lists = await Promise.all(
      types.map((type) => cachedPackages(this.kv, type, this.registries[type])),
    );
    return lists.flat();
  }

  async #claim(registry: EcosystemRegistry, type: EcosystemType, name: string): Promise<Response> {
    const state = await registry.privates.change(
      name,
      (current) => current ?? PrivatePackages.emptyPackage(name, true),
    );
    return jsonResponse(summarize(type, state!), 200);
  }

  async #remove(
    registry: EcosystemRegistry,
    type: EcosystemType,
    name: string,
    version: string | null,
    reopen: boolean,
  ): Promise<Response> {
    const before = await registry.privates.state(name);
    if (!before) return errorResponse(404, `${name} is not a private ${type} package`);
    if (version !== null && !before.versions.has(version)) {
      return errorResponse(404, `${name} has no private version ${version}`);
    }
    const after = await registry.privates.change(name, (current) => {
      if (!current) return undefined;
      if (version === null) {
        if (reopen) return undefined;
        current.versions.clear();
        current.pkg.distTags = {};
        return current;
      }
      current.versions.delete(version);
      for (const [tag, tagged] of Object.entries(current.pkg.distTags)) {
        if (tagged === version) delete current.pkg.distTags[tag];
      }
      if (reopen && current.versions.size === 0) return undefined;
      return current;
    });
    return jsonResponse({
      removed: version === null ? [...before.versions.keys()] : [version],
      reopened: after === undefined,
      package: after ? summarize(type, after) : null,
    });
  }
}

export function summarize(type: EcosystemType, state: PackageState): PrivatePackageSummary {
  return {
    type,
    name: state.pkg.name,
    shadowsUpstream: state.pkg.shadowsUpstream,
    distTags: state.pkg.distTags,
    createdAt: new Date(state.pkg.createdAt).toISOString(),
    modifiedAt: new Date(state.pkg.modifiedAt).toISOString(),
    versions: state.pkg.versions.flatMap((v) => {
      const record = state.versions.get(v);
      if (!record) return [];
      return [{
        version: v,
        publishedAt: new Date(record.publishedAt).toISOString(),
        files: record.files.map(({ filename, size, sha256 }) => ({ filename, size, sha256 })),
        ...(record.yanked ? { yanked: record.yanked } : {}),
        ...(record.deprecated ? { deprecated: record.deprecated } : {}),
      }];
    }),
  };
}

/**
 * The package name at the start of `segments` (decoded) and the segments after it. A scoped npm
 * name arrives encoded in one segment (`@scope%2fname`) or plainly in two (`@scope/name`).
 */
function splitName(segments: string[]): { name: string; rest: string[] } | undefined {
  let decoded: string[];
  try {
    decoded = segments.map((segment) => decodeURIComponent(segment));
  } catch {
    return undefined;
  }
  if (!decoded[0]) return undefined;
  const scopeOnly = decoded[0].startsWith("@") && !decoded[0].includes("/");
  if (scopeOnly && decoded.length > 1) {
    return { name: `${decoded[0]}/${decoded[1]}`, rest: decoded.slice(2) };
  }
  return { name: decoded[0], rest: decoded.slice(1) };
}

function methodNotAllowed(request: Request, allow: string): Response {
  return errorResponse(405, `${request.method} is not supported here`, { allow });
}

/**
 * The public packages with files in the cache, by name: what `vm pkg list --cached` lists and
 * `vm pkg status` counts as "cached packages".
 */
export async function cachedPackages(
  kv: Deno.Kv,
  type: EcosystemType,
  registry: Pick<EcosystemRegistry, "cachedFilesPrefix">,
): Promise<CachedPackageSummary[]> {
  const byName = new Map<string, CachedPackageSummary>();
  const prefix = registry.cachedFilesPrefix;
  for await (const entry of kv.list<{ size: number }>({ prefix })) {
    const name = String(entry.key[prefix.length]);
    const summary = byName.get(name) ?? { type, name, files: 0, bytes: 0 };
    summary.files++;
    summary.bytes += entry.value.size ?? 0;
    byName.set(name, summary);
  }
  return [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
}
