// The write token. Reads are open to anyone who reaches the port; every write (publish, delete,
// yank, dist-tag, claim) needs this token. It is created at the first start, kept in the data dir
// readable by its owner only, and accepted in the forms the native clients send it:
// `Bearer <token>` (npm), HTTP Basic with the token as password (twine and uv: `__token__`),
// and the bare token (cargo).
import { dataLayout } from "../store/data_dir.ts";
import { errorResponse } from "./http.ts";

const TOKEN_PREFIX = "vmpkg_";

/** Reads the token of a data dir, creating it (mode 0600) when there is none yet. */
export async function loadOrCreateToken(dataDir: string): Promise<string> {
  const path = dataLayout(dataDir).tokenFile;
  const existing = await readToken(dataDir);
  if (existing) {
    // Tighten a file someone loosened: the token is the only thing guarding writes.
    if (Deno.build.os !== "windows") await Deno.chmod(path, 0o600);
    return existing;
  }
  const token = TOKEN_PREFIX + base64url(crypto.getRandomValues(new Uint8Array(32)));
  const temp = `${path}.${Deno.pid}.tmp`;
  await Deno.writeTextFile(temp, token + "\n", { mode: 0o600 });
  // createNew semantics through link would be nicer; rename is atomic and a race between two
  // first starts is prevented by the port (only one server runs per data dir).
  await Deno.rename(temp, path);
  return token;
}

/** The token of a data dir, or undefined when the registry never started there. */
export async function readToken(dataDir: string): Promise<string | undefined> {
  try {
    const token = (await Deno.readTextFile(dataLayout(dataDir).tokenFile)).trim();
    return token || undefined;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/** The token a request carries, in any of the accepted forms. */
export function tokenOf(request: Request): string | undefined {
  const header = request.headers.get("authorization")?.trim();
  if (!header) return undefined;
  const [scheme, ...rest] = header.split(/\s+/);
  const value = rest.join(" ");
  switch (scheme.toLowerCase()) {
    case "bearer":
    case "token":
      return value || undefined;
    case "basic": {
      try {
        const decoded = atob(value);
        const colon = decoded.indexOf(":");
        return colon >= 0 ? decoded.slice(colon + 1) : undefined;
      } catch {
        return undefined;
      }
    }
    default:
      return rest.length === 0 ? scheme : undefined;
  }
}

export class WriteAuth {
  readonly #token: Uint8Array;

  constructor(token: string) {
    this.#token = new TextEncoder().encode(token);
  }

  isAuthorized(request: Request): boolean {
    const given = tokenOf(request);
    return given !== undefined && constantTimeEqual(new TextEncoder().encode(given), this.#token);
  }

  /**
   * Whether a client may see the server's paths, pid, upstream URLs and other clients' addresses:
   * the host itself (loopback) or anyone with the token. A VM on the Docker bridge is neither.
   */
  mayInspect(request: Request, clientAddress: string): boolean {
    return isLoopback(clientAddress) || this.isAuthorized(request);
  }

  /** undefined when the request may write; otherwise the 401 to send. */
  refusal(request: Request): Response | undefined {
    if (this.isAuthorized(request)) return undefined;
    const message = request.headers.has("authorization")
      ? "the write token is wrong (see `vm pkg token`)"
      : "writes need the registry's token (see `vm pkg token`)";
    return errorResponse(401, message, { "www-authenticate": 'Basic realm="vm pkg"' });
  }
}

/** A peer address on this host: 127.0.0.0/8 or ::1 (also written as IPv4-mapped IPv6). */
export function isLoopback(address: string): boolean {
  const v4 = address.toLowerCase().replace(/^::ffff:(?=\d+\.)/, "");
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4) || v4 === "::1" || v4 === "0:0:0:0:0:0:0:1";
}

function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  let difference = a.length ^ b.length;
  for (let i = 0; i < b.length; i++) difference |= (a[i] ?? 0) ^ b[i];
  return difference === 0;
}

function base64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_")
    .replace(/=+$/, "");
}
