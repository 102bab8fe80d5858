// PEP 691 content negotiation for the Simple API: JSON or HTML, chosen by the Accept header.

export const SIMPLE_JSON = "application/vnd.pypi.simple.v1+json";
export const SIMPLE_HTML = "application/vnd.pypi.simple.v1+html";
export const TEXT_HTML = "text/html";

export type SimpleFormat = { type: string; json: boolean };

const OFFERED: Record<string, SimpleFormat> = {
  [SIMPLE_JSON]: { type: SIMPLE_JSON, json: true },
  "application/vnd.pypi.simple.latest+json": { type: SIMPLE_JSON, json: true },
  [SIMPLE_HTML]: { type: SIMPLE_HTML, json: false },
  "application/vnd.pypi.simple.latest+html": { type: SIMPLE_HTML, json: false },
  [TEXT_HTML]: { type: TEXT_HTML, json: false },
};

/** The best format for an Accept header; undefined when nothing offered is acceptable (406). */
export function negotiateSimpleFormat(accept: string | null): SimpleFormat | undefined {
  if (!accept || !accept.trim()) return OFFERED[TEXT_HTML];
  let best: { format: SimpleFormat; q: number; order: number } | undefined;
  accept.split(",").forEach((part, order) => {
    const [rawType, ...params] = part.trim().split(";");
    const type = rawType.trim().toLowerCase();
    const qParam = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
    const q = qParam ? Number(qParam.slice(2)) : 1;
    if (!(q > 0)) return;
    // Own keys only: an Accept of "constructor" must not find Object.prototype's.
    const format = (Object.hasOwn(OFFERED, type) ? OFFERED[type] : undefined) ??
      (type === "*/*" || type === "text/*" ? OFFERED[TEXT_HTML] : undefined);
    if (!format) return;
    if (!best || q > best.q) best = { format, q, order };
  });
  return best?.format;
}
