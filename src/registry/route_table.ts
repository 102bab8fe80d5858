// The route table: every route the server answers is one entry (methods, pattern, owner, what it
// does), matched here and listed by `GET /-/routes` and `vm pkg routes`. A pattern is a path whose
// segments are literals, `:name` (one non-empty segment) or `:name+` / `:name*` (one or more / any
// number of segments, at most one such per pattern). What a parameter must look like is the
// route's own business (an ecosystem's names.ts): a route whose parser refuses the parameters
// does not match, and the next one may. Routes match in the order they were added.
//
// The skeleton every request goes through (method check, HEAD, error shape, counting, failures)
// is in dispatch.ts; a route only says what to serve.

/** Parameters as they came in the path: still percent-encoded; a `+`/`*` one joined with "/". */
export type Params = Readonly<Record<string, string>>;

export interface RequestInfo {
  /** The client's address, as the server sees it (a VM's container IP, 127.0.0.1…). */
  client: string;
  url: URL;
}

export type Handler = (request: Request, info: RequestInfo) => Response | Promise<Response>;

export interface RouteSpec<P> {
  /** "GET" answers HEAD too (dispatch.ts runs GET and drops the body). */
  method: string | readonly string[];
  pattern: string;
  /** One line for `vm pkg routes`. */
  description: string;
  /** Checks and converts the raw parameters; undefined when they are not this route's. */
  params?: (raw: Params) => P | undefined;
  /** What the request is about, for failure messages ("lodash", "serde 1.0.0"). */
  subject?: (params: P) => string;
  handle: (request: Request, params: P, info: RequestInfo) => Response | Promise<Response>;
}

/** A route bound to the parameters of one request. */
export interface BoundRoute {
  handle: Handler;
  /** What the request is about, when the route says. */
  subject?: string;
  /** The parsed parameters (for tests and listings). */
  params: unknown;
}

export interface Route {
  readonly methods: readonly string[];
  readonly pattern: string;
  readonly description: string;
  /** The route for these raw parameters, or undefined when its parser refuses them. */
  bind(raw: Params): BoundRoute | undefined;
}

/**
 * One `:name` parameter decoded: undefined when its percent-encoding is malformed or it hides a
 * "/" or a NUL (a name must never become a path of its own).
 */
export function decodeSegment(raw: string): string | undefined {
  try {
    const value = decodeURIComponent(raw);
    return value.includes("/") || value.includes("\0") ? undefined : value;
  } catch {
    return undefined;
  }
}

/** A route from its spec; `P` is what its parser makes of the parameters. */
export function route<P = Params>(spec: RouteSpec<P>): Route {
  const methods = typeof spec.method === "string" ? [spec.method] : [...spec.method];
  compilePattern(spec.pattern); // a malformed pattern fails where it is written
  return {
    methods,
    pattern: spec.pattern,
    description: spec.description,
    bind(raw) {
      const params = spec.params ? spec.params(raw) : raw as unknown as P;
      if (params === undefined) return undefined;
      return {
        params,
        subject: spec.subject?.(params),
        handle: (request, info) => spec.handle(request, params, info),
      };
    },
  };
}

/**
 * Who answers for a set of routes: an ecosystem (its id and URL prefix) or the server itself.
 * Errors under an owner take its shape; a path under its prefix that no route takes gets its
 * answer.
 */
export interface RouteOwner {
  /** The ecosystem's id; undefined for the server's own routes. */
  readonly ecosystem?: string;
  /** Paths under `${prefix}/` that no route takes are this owner's to answer. */
  readonly prefix?: string;
  /** An error answer in the shape its clients read; absent: `{"error": message}` as JSON. */
  formatError?(status: number, message: string, headers: Headers): Response;
  /** The answer to a path under the prefix no route takes; absent: 404 "no such route". */
  unmatched?(path: string): { status: number; message: string };
  /** Called once for each request one of its routes takes (after the method check). */
  count?(): void;
}

export interface ListedRoute {
  method: string;
  pattern: string;
  /** The ecosystem the route belongs to; null for the server's own. */
  ecosystem: string | null;
  description: string;
}

export type Match =
  | { kind: "found"; route: BoundRoute; entry: RouteEntry }
  /** The path is a route's, the method is not: answer 405 with these methods in Allow. */
  | { kind: "method"; allow: string[]; owner: RouteOwner }
  | { kind: "none"; owner: RouteOwner };

/** A route in the table, with who answers for it. */
export interface RouteEntry {
  readonly route: Route;
  readonly owner: RouteOwner;
  readonly compiled: CompiledPattern;
}

/** The server's own owner: default error shape, 404 for what no route takes. */
const SERVER: RouteOwner = {};

export class RouteTable {
  readonly #entries: RouteEntry[] = [];
  /** Entries by their pattern's first segment; "" for those that start with a parameter. */
  readonly #byFirst = new Map<string, RouteEntry[]>();
  readonly #owners: RouteOwner[] = [];

  /** Adds routes in order; earlier ones match first. */
  add(owner: RouteOwner | undefined, routes: readonly Route[]): this {
    const who = owner ?? SERVER;
    if (!this.#owners.includes(who)) this.#owners.push(who);
    for (const route of routes) {
      const entry = { route, owner: who, compiled: compilePattern(route.pattern) };
      this.#entries.push(entry);
      const first = entry.compiled.firstLiteral ?? "";
      this.#byFirst.set(first, [...this.#byFirst.get(first) ?? [], entry]);
    }
    return this;
  }

  /** The route for a method and path (the URL's pathname, still percent-encoded). */
  match(method: string, pathname: string): Match {
    const segments = pathname.split("/").slice(1);
    const candidates = [...this.#byFirst.get(segments[0]) ?? [], ...this.#byFirst.get("") ?? []];
    const allow = new Set<string>();
    let owner: RouteOwner | undefined;
    for (const entry of candidates) {
      const raw = matchSegments(entry.compiled, segments);
      if (!raw) continue;
      const bound = entry.route.bind(raw);
      if (!bound) continue;
      if (accepts(entry.route.methods, method)) return { kind: "found", route: bound, entry };
      for (const each of entry.route.methods) allow.add(each);
      owner ??= entry.owner;
    }
    if (owner) return { kind: "method", allow: allowed(allow), owner };
    return { kind: "none", owner: this.ownerOf(pathname) };
  }

  /** The owner whose prefix the path is under (the server when none). */
  ownerOf(pathname: string): RouteOwner {
    return this.#owners.find((each) => each.prefix && pathname.startsWith(`${each.prefix}/`)) ??
      SERVER;
  }

  /** Every route, one entry per method, in matching order. */
  list(): ListedRoute[] {
    return this.#entries.flatMap(({ route, owner }) =>
      route.methods.map((method) => ({
        method,
        pattern: route.pattern,
        ecosystem: owner.ecosystem ?? null,
        description: route.description,
      }))
    );
  }
}

/** GET routes answer HEAD. */
function accepts(methods: readonly string[], method: string): boolean {
  return methods.includes(method) || (method === "HEAD" && methods.includes("GET"));
}

/** The Allow header's methods: HEAD beside every GET, in a stable order. */
function allowed(methods: Set<string>): string[] {
  if (methods.has("GET")) methods.add("HEAD");
  const order = ["GET", "HEAD", "POST", "PUT", "DELETE"];
  return [...methods].sort((a, b) => rank(order, a) - rank(order, b));
}

function rank(order: string[], method: string): number {
  const at = order.indexOf(method);
  return at < 0 ? order.length : at;
}

// --- Patterns -----------------------------------------------------------------------------------

type Segment =
  | { kind: "literal"; text: string }
  | { kind: "param"; name: string }
  | { kind: "rest"; name: string; min: 0 | 1 };

interface CompiledPattern {
  before: Segment[];
  rest?: Extract<Segment, { kind: "rest" }>;
  after: Segment[];
  firstLiteral?: string;
}

function compilePattern(pattern: string): CompiledPattern {
  if (!pattern.startsWith("/")) throw new Error(`route pattern must start with /: ${pattern}`);
  const segments: Segment[] = pattern.split("/").slice(1).map((text) => {
    const param = /^:([A-Za-z][A-Za-z0-9]*)([+*]?)$/.exec(text);
    if (!param) {
      if (text.includes(":")) throw new Error(`malformed parameter in ${pattern}`);
      return { kind: "literal", text };
    }
    const [, name, repeat] = param;
    return repeat ? { kind: "rest", name, min: repeat === "+" ? 1 : 0 } : { kind: "param", name };
  });
  const restAt = segments.findIndex((segment) => segment.kind === "rest");
  if (segments.filter((segment) => segment.kind === "rest").length > 1) {
    throw new Error(`at most one + or * parameter per pattern: ${pattern}`);
  }
  const first = segments[0];
  return {
    before: restAt < 0 ? segments : segments.slice(0, restAt),
    rest: restAt < 0 ? undefined : segments[restAt] as CompiledPattern["rest"],
    after: restAt < 0 ? [] : segments.slice(restAt + 1),
    firstLiteral: first?.kind === "literal" ? first.text : undefined,
  };
}

/** The raw parameters when the segments fit the pattern. */
function matchSegments(pattern: CompiledPattern, segments: string[]): Params | undefined {
  const { before, rest, after } = pattern;
  const fixed = before.length + after.length;
  if (rest ? segments.length < fixed + rest.min : segments.length !== fixed) return undefined;
  const params: Record<string, string> = {};
  const fits = (segment: Segment, text: string): boolean => {
    if (segment.kind === "literal") return segment.text === text;
    if (text === "") return false;
    params[segment.name] = text;
    return true;
  };
  for (let i = 0; i < before.length; i++) if (!fits(before[i], segments[i])) return undefined;
  const afterStart = segments.length - after.length;
  for (let i = 0; i < after.length; i++) {
    if (!fits(after[i], segments[afterStart + i])) return undefined;
  }
  if (rest) params[rest.name] = segments.slice(before.length, afterStart).join("/");
  return params;
}
