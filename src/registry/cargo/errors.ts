// cargo shows a failed registry response's `errors[].detail` to the user (any status), so every
// error under /cargo/ is sent in that shape, whichever code produced it: the dispatcher re-shapes
// each error answer of a cargo route with this (see dispatch.ts).
import { jsonResponse } from "../http.ts";

export function cargoError(status: number, detail: string, headers: HeadersInit = {}): Response {
  return jsonResponse({ errors: [{ detail }] }, status, headers);
}
