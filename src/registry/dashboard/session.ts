// Writing from the dashboard without JavaScript: the write token is entered once in a form and
// kept by the browser in a session cookie (no expiry: gone when the browser closes; HttpOnly: no
// script reads it; SameSite=Strict: no other site's page sends it), so it travels as a header and
// never in a URL. Every write form is a POST whose Origin must be this server's own, checked
// against the Host the browser used: a cross-site form or fetch is refused before the token is.
import type { WriteAuth } from "../auth.ts";
import { normalizeHost } from "../http.ts";
import { readLimitedBody } from "../request_body.ts";

export const SESSION_COOKIE = "vmpkg_ui";
/** A form holds a token, a name and a version: a few hundred bytes. */
const MAX_FORM_BYTES = 8 * 1024;

/** The token the browser's session cookie carries, if any. */
export function sessionToken(request: Request): string | undefined {
  const header = request.headers.get("cookie");
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const [name, ...value] = part.trim().split("=");
    if (name !== SESSION_COOKIE) continue;
    try {
      return decodeURIComponent(value.join("=")) || undefined;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** Whether the session cookie holds the write token (compared as every write is: auth.ts). */
export function signedIn(auth: WriteAuth, request: Request): boolean {
  const token = sessionToken(request);
  return token !== undefined && tokenIsRight(auth, token);
}

export function tokenIsRight(auth: WriteAuth, token: string): boolean {
  // WriteAuth compares in constant time; it reads the token from the header the clients use.
  const probe = new Request("http://dashboard/", { headers: { authorization: `Bearer ${token}` } });
  return !/[\r\n]/.test(token) && auth.isAuthorized(probe);
}

export function startSession(token: string): string {
  return `${SESSION_COOKIE}=${encodeURIComponent(token)}; Path=/ui; HttpOnly; SameSite=Strict`;
}

export function endSession(): string {
  return `${SESSION_COOKIE}=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0`;
}

/**
 * Whether a write request comes from a page of this server: its Origin is `http://` + the Host it
 * was sent to (a valid one). A browser sends Origin with every form POST; without one, only
 * `Sec-Fetch-Site: same-origin` passes. Anything else (another site, a missing header) is refused.
 */
export function fromOwnPage(request: Request): boolean {
  const host = normalizeHost(request.headers.get("host") ?? "");
  if (!host) return false;
  const origin = request.headers.get("origin");
  if (origin !== null) return origin === `http://${host}`;
  return request.headers.get("sec-fetch-site") === "same-origin";
}

/** A urlencoded form's fields, bounded; undefined when the body is not one. */
export async function readForm(request: Request): Promise<URLSearchParams | undefined> {
  const type = request.headers.get("content-type")?.split(";")[0].trim().toLowerCase();
  if (type !== "application/x-www-form-urlencoded") return undefined;
  try {
    const bytes = await readLimitedBody(request, MAX_FORM_BYTES);
    return new URLSearchParams(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return undefined;
  }
}

/** Where to go back after a form: one of the dashboard's own paths, never another site. */
export function backPath(value: string | null): string {
  if (value && /^\/(ui\/[^?#\\]*)?(\?[^#\\]*)?$/.test(value) && !value.startsWith("//")) {
    return value;
  }
  return "/ui/packages";
}
