// The one way text becomes HTML on the dashboard: the `html` tag escapes every value put into a
// template unless it is already `Html` (made by this tag, so escaped in its turn). Package names,
// versions, descriptions, client addresses and the Host header are all hostile input; a page
// builder that never concatenates strings cannot forget to escape one.

/** Markup that is safe to emit as is: only `html` and `joinHtml` make it. */
export class Html {
  readonly #markup: string;
  private constructor(markup: string) {
    this.#markup = markup;
  }
  toString(): string {
    return this.#markup;
  }
  /** For this module only: the markup of a template, whose values were escaped already. */
  static trusted(markup: string): Html {
    return new Html(markup);
  }
}

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** Text as HTML text or as an attribute value (quoted), so it can never open a tag or leave one. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => ESCAPES[char]);
}

/** A value in a template: Html as is, lists joined, nothing for null/undefined/false, else text. */
type Value = Html | string | number | boolean | null | undefined | readonly Value[];

function render(value: Value): string {
  if (value instanceof Html) return value.toString();
  if (Array.isArray(value)) return value.map(render).join("");
  if (value === null || value === undefined || value === false) return "";
  return escapeHtml(String(value));
}

/** A template whose every interpolation is escaped (see the file comment). */
export function html(strings: TemplateStringsArray, ...values: Value[]): Html {
  let out = strings[0];
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1];
  return Html.trusted(out);
}

export function joinHtml(parts: readonly Html[], separator = ""): Html {
  return Html.trusted(parts.map(String).join(escapeHtml(separator)));
}

/**
 * The headers every dashboard page carries: no script at all (pages work without it), styles
 * only from this server's own stylesheet, never framed, no MIME sniffing.
 */
export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  "content-type": "text/html; charset=utf-8",
  "content-security-policy":
    "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; " +
    "form-action 'self'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "same-origin",
  "cache-control": "no-store",
  // `/` is this page or the JSON index, by Accept.
  vary: "accept",
};

export function htmlResponse(page: Html, status = 200): Response {
  return new Response(page.toString(), { status, headers: PAGE_HEADERS });
}

/**
 * Whether a request is from a browser that wants a page rather than a script that wants JSON: the
 * Accept header names text/html before (or without) application/json. `curl` (`*\/*`) and
 * `fetch` without an Accept get JSON, as `/` always answered.
 */
export function wantsHtml(accept: string | null): boolean {
  if (!accept) return false;
  const types = accept.split(",").map((part) => part.split(";")[0].trim().toLowerCase());
  const page = types.indexOf("text/html");
  const json = types.indexOf("application/json");
  return page !== -1 && (json === -1 || page < json);
}
