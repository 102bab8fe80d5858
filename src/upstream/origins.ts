// Where the registry may connect: the origins (scheme, host and port) of the upstreams configured
// for one ecosystem, and nothing else. Upstream documents are hostile input: a PyPI page can link
// `file:///…/token` (Deno's fetch reads it when the process holds --allow-read) or another service
// on the machine, and a redirect can point anywhere. Every URL the registry fetches, and every
// redirect it follows, is checked here first.

export class UpstreamOrigins {
  readonly #origins: Set<string>;

  /** `upstreams`: the configured upstream URLs (any path; only their origins count). */
  constructor(upstreams: readonly string[]) {
    this.#origins = new Set(upstreams.map((upstream) => {
      const url = new URL(upstream);
      if (!isHttp(url)) throw new TypeError(`an upstream must be an http(s) URL: ${upstream}`);
      return url.origin;
    }));
  }

  /**
   * Whether the registry may fetch `url`: http(s), on a configured origin, without credentials
   * (a URL with a user or password was made by a document, never by the configuration).
   */
  allows(url: string | URL): boolean {
    let parsed: URL;
    try {
      parsed = typeof url === "string" ? new URL(url) : url;
    } catch {
      return false;
    }
    return isHttp(parsed) && parsed.username === "" && parsed.password === "" &&
      this.#origins.has(parsed.origin);
  }

  /** The allowed origins, for messages. */
  list(): string[] {
    return [...this.#origins];
  }
}

function isHttp(url: URL): boolean {
  return url.protocol === "http:" || url.protocol === "https:";
}

/** A URL shortened for a log line or an error message (a hostile one can be megabytes). */
export function shortUrl(url: string): string {
  return url.length > 120 ? `${url.slice(0, 117)}...` : url;
}
