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
// a PyPI name before PEP 503 normalization, a cargo name in any case and with `-` or `_`. T is an
// ecosystem's id or alias (ecosystems.ts); only ecosystems that take private packages have them.
import { type PackageState, PrivatePackages } from "../store/private_packages.ts";
import type { WriteAuth } from "./auth.ts";
import { type Ecosystem, type EcosystemService, findEcosystem } from "./ecosystem.ts";
import { errorResponse, jsonResponse } from "./http.ts";
import { type Params, type Route, route } from "./route_table.ts";

/** An ecosystem as the admin routes see it: its descriptor and its running service. */
export interface AdminEcosystem {
  ecosystem: Ecosystem;
  service: EcosystemService;
}

/** The ecosystem's id: what `type` says in every summary. */
export type EcosystemType = string;

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
  readonly #byId: Map<string, AdminEcosystem>;

  constructor(
    private readonly kv: Deno.Kv,
    private readonly auth: WriteAuth,
    private readonly ecosystems: readonly AdminEcosystem[],
  ) {
    this.#byId = new Map(ecosystems.map((each) => [each.ecosystem.id, each]));
  }

  routes(): Route[] {
    const list =
      (cached: boolean) => (_request: Request, _params: unknown, { url }: { url: URL }) => {
        const type = url.searchParams.get("type");
        const chosen = this.#chosen(type, cached);
        if (!chosen) {
          const known = this.#candidates(cached).map((each) => each.ecosystem.id);
          return errorResponse(400, `unknown type ${type}: use ${orList(known)}`);
        }
        return cached ? this.#cached(chosen) : this.#list(chosen);
      };
    // The type must take private packages, and the name be one name (the rest is the route's).
    const named = (raw: Params) => {
      const admin = this.#withPrivates(raw.type);
      const split = splitName(raw.name.split("/"));
      if (!admin || !split || split.rest.length > 0) return undefined;
      return { admin, name: split.name };
    };
    return [
      route({
        method: "GET",
        pattern: "/-/packages",
        description: "private packages and their versions (?type=npm…)",
        handle: list(false),
      }),
      route({
        method: "GET",
        pattern: "/-/packages/cached",
        description: "cached public packages with their sizes (vm pkg list --cached)",
        handle: list(true),
      }),
      route({
        method: "PUT",
        pattern: "/-/packages/:type/:name+/claim",
        description: "make a name private before a native publish (token required)",
        params: named,
        handle: (request, { admin, name }) =>
          this.auth.refusal(request) ?? this.#withName(admin, name, (n) => this.#claim(admin, n)),
      }),
      route({
        method: "GET",
        pattern: "/-/packages/:type/:name+",
        description: "one private package",
        params: named,
        handle: (_request, { admin, name }) =>
          this.#withName(admin, name, async (n) => {
            const state = await admin.service.privates!.state(n);
            if (!state) {
              return errorResponse(404, `${n} is not a private ${admin.ecosystem.id} package`);
            }
            return jsonResponse(summarize(admin.ecosystem.id, state));
          }),
      }),
      route({
        method: "DELETE",
        pattern: "/-/packages/:type/:name+",
        description: "remove a private package or ?version=V of it (&reopen=true; token required)",
        params: named,
        handle: (request, { admin, name }, { url }) =>
          this.auth.refusal(request) ??
            this.#withName(admin, name, (n) =>
              this.#remove(
                admin,
                n,
                url.searchParams.get("version"),
                url.searchParams.get("reopen") === "true",
              )),
      }),
    ];
  }

  /**
   * Claims a name (the write check is the caller's): what `PUT /-/packages/T/NAME/claim` does, for
   * the dashboard's form. Answers as that route does (JSON, or an error with its message).
   */
  claimNamed(type: string, typed: string): Promise<Response> {
    const admin = this.#withPrivates(type);
    if (!admin) return Promise.resolve(errorResponse(404, `${type} takes no private packages`));
    return this.#withName(admin, typed, (n) => this.#claim(admin, n));
  }

  /**
   * Removes a private package or one version of it (the write check is the caller's): what
   * `DELETE /-/packages/T/NAME` does, for the dashboard's forms, with the same answers.
   */
  removeNamed(type: string, typed: string, version: string | null, reopen: boolean) {
    const admin = this.#withPrivates(type);
    if (!admin) return Promise.resolve(errorResponse(404, `${type} takes no private packages`));
    return this.#withName(admin, typed, (n) => this.#remove(admin, n, version, reopen));
  }

  /** The ecosystems a list asks for: every one (that has private packages), or the one named. */
  #chosen(type: string | null, cached: boolean): AdminEcosystem[] | undefined {
    const candidates = this.#candidates(cached);
    if (!type) return candidates;
    const ecosystem = findEcosystem(type, candidates.map((each) => each.ecosystem));
    return ecosystem ? [this.#byId.get(ecosystem.id)!] : undefined;
  }

  #candidates(cached: boolean): AdminEcosystem[] {
    return this.ecosystems.filter((each) => cached || each.service.privates);
  }

  #withPrivates(type: string): AdminEcosystem | undefined {
    const ecosystem = findEcosystem(type, this.ecosystems.map((each) => each.ecosystem));
    const admin = ecosystem && this.#byId.get(ecosystem.id);
    return admin?.service.privates ? admin : undefined;
  }

  /** Runs `fn` with the stored form of the name, or answers 400 when it is not a valid one. */
  async #withName(
    admin: AdminEcosystem,
    typed: string,
    fn: (name: string) => Promise<Response>,
  ): Promise<Response> {
    const name = admin.service.canonicalName ? admin.service.canonicalName(typed) : typed;
    if (!name) {
      return errorResponse(400, `not a valid ${admin.ecosystem.id} package name: ${typed}`);
    }
    return await fn(name);
  }

  async #list(chosen: AdminEcosystem[]): Promise<Response> {
    const lists = await Promise.all(chosen.map(async ({ ecosystem, service }) => {
      const states = await service.privates!.list();
      return states.map((state) => summarize(ecosystem.id, state));
    }));
    return jsonResponse({ packages: lists.flat() });
  }

  async #cached(chosen: AdminEcosystem[]): Promise<Response> {
    const lists = await Promise.all(
      chosen.map(({ ecosystem }) => cachedPackages(this.kv, ecosystem)),
    );
    return jsonResponse({ packages: lists.flat() });
  }

  async #claim({ ecosystem, service }: AdminEcosystem, name: string): Promise<Response> {
    const state = await service.privates!.change(
      name,
      (current) => current ?? PrivatePackages.emptyPackage(name, true),
    );
    return jsonResponse(summarize(ecosystem.id, state!), 200);
  }

  async #remove(
    { ecosystem, service }: AdminEcosystem,
    name: string,
    version: string | null,
    reopen: boolean,
  ): Promise<Response> {
    const privates = service.privates!;
    const type = ecosystem.id;
    const before = await privates.state(name);
    if (!before) return errorResponse(404, `${name} is not a private ${type} package`);
    if (version !== null && !before.versions.has(version)) {
      return errorResponse(404, `${name} has no private version ${version}`);
    }
    const after = await privates.change(name, (current) => {
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

const orList = (items: string[]) =>
  items.length > 1 ? `${items.slice(0, -1).join(", ")} or ${items.at(-1)}` : items[0] ?? "none";

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

/**
 * The public packages with files in the cache, by name: what `vm pkg list --cached` lists and
 * `vm pkg status` counts as "cached packages".
 */
export async function cachedPackages(
  kv: Deno.Kv,
  ecosystem: Pick<Ecosystem, "id" | "cachedFiles">,
): Promise<CachedPackageSummary[]> {
  const byName = new Map<string, CachedPackageSummary>();
  const prefix = ecosystem.cachedFiles;
  for await (const entry of kv.list<{ size: number }>({ prefix })) {
    const name = String(entry.key[prefix.length]);
    const summary = byName.get(name) ?? { type: ecosystem.id, name, files: 0, bytes: 0 };
    summary.files++;
    summary.bytes += entry.value.size ?? 0;
    byName.set(name, summary);
  }
  return [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
}
