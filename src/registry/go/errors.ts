// The go command shows a failed proxy response's body to the user as plain text ("server
// response: …"), so every error under /go/ is sent as text, whichever code produced it: the
// dispatcher re-shapes each error answer of a Go route with this (see dispatch.ts). 404 and 410
// mean "not found" to it (it may try the next GOPROXY entry); anything else stops it.

export function goError(status: number, message: string, headers: HeadersInit = {}): Response {
  const out = new Headers(headers);
  out.set("content-type", "text/plain; charset=utf-8");
  return new Response(`${message}\n`, { status, headers: out });
}
