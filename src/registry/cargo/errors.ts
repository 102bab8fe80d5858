// cargo shows a failed registry response's `errors[].detail` to the user (any status), so every
// error under /cargo/ is sent in that shape, whichever shared code produced it.
import { jsonResponse } from "../http.ts";

export function cargoError(status: number, detail: string, headers: HeadersInit = {}): Response {
  return jsonResponse({ errors: [{ detail }] }, status, headers);
}

/** Rewrites a shared `{"error": ...}` response into cargo's shape, keeping its headers. */
export async function toCargoErrors(response: Response): Promise<Response> {
  if (response.status < 400 || !response.headers.get("content-type")?.includes("json")) {
    return response;
  }
  const body = await response.json().catch(() => ({}));
  const headers = new Headers(response.headers);
  headers.delete("content-length");
  if (Array.isArray(body.errors)) return jsonResponse(body, response.status, headers);
  return cargoError(response.status, String(body.error ?? `HTTP ${response.status}`), headers);
}
