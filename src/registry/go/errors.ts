// The go command shows a failed proxy response's body to the user as plain text ("server
// response: …"), so every error under /go/ is sent as text, whichever shared code produced it.
// 404 and 410 mean "not found" to it (it may try the next GOPROXY entry); anything else stops it.

export function goError(status: number, message: string, headers: HeadersInit = {}): Response {
  const out = new Headers(headers);
  out.set("content-type", "text/plain; charset=utf-8");
  return new Response(`${message}\n`, { status, headers: out });
}

/** Rewrites a shared `{"error": ...}` response into plain text, keeping its status and headers. */
export async function toGoErrors(response: Response): Promise<Response> {
  if (response.status < 400 || !response.headers.get("content-type")?.includes("json")) {
    return response;
  }
  const body = await response.json().catch(() => ({}));
  const headers = new Headers(response.headers);
  headers.delete("content-length");
  return goError(response.status, String(body.error ?? `HTTP ${response.status}`), headers);
}
