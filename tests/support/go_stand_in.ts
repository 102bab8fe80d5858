// A tiny Go module proxy for fault injection only: it answers the paths a test sets, byte for
// byte, and counts every request. What it serves is real where it can be (a real checksum record,
// signed by sum.golang.org) and hostile where the test needs it (a zip the record contradicts).

export interface StandInAnswer {
  status?: number;
  body: Uint8Array | string;
}

export interface GoStandIn {
  url: string;
  /** Path (as requested, still escaped) → answer; anything else is 404. */
  routes: Map<string, StandInAnswer>;
  /** Requests per path, answered or not. */
  requests: Map<string, number>;
  total(): number;
  close(): Promise<void>;
}

export function startGoStandIn(): GoStandIn {
  const routes = new Map<string, StandInAnswer>();
  const requests = new Map<string, number>();
  const abort = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: abort.signal, onListen: () => {} },
    (request) => {
      const path = new URL(request.url).pathname;
      requests.set(path, (requests.get(path) ?? 0) + 1);
      const answer = routes.get(path);
      if (!answer) return new Response("not found", { status: 404 });
      return new Response(answer.body as BodyInit, {
        status: answer.status ?? 200,
        headers: { "content-type": "application/octet-stream" },
      });
    },
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    routes,
    requests,
    total: () => [...requests.values()].reduce((sum, n) => sum + n, 0),
    close: async () => {
      abort.abort();
      await server.finished;
    },
  };
}

/**
 * proxy.golang.org/sumdb/sum.golang.org/lookup/github.com/google/uuid@v1.6.0, byte for byte: a
 * real record whose tree head sum.golang.org signed.
 */
export const UUID_LOOKUP = "22152757\n" +
  "github.com/google/uuid v1.6.0 h1:NIvaJDMOsjHA8n1jAhLSgzrAzy1Hgr+hNrb57e+94F0=\n" +
  "github.com/google/uuid v1.6.0/go.mod h1:TIyPZe4MgqvfeYDBFedMoGGpEw/LqOeaOT+nhxU+yHo=\n" +
  "\n" +
  "go.sum database tree\n66332798\nczPocWFmMwQrSENohgEPvFiqA+2i/3lRZhHbxtma2UQ=\n" +
  "\n" +
  "\u2014 sum.golang.org Az3grh19zTBOmg0dGOAELF5SP1N/QTSsuYwquERee13uccsbttgwVlS/0MhlHd7IEvb6fQVKmu7XFovf0PT1tKOnHQo=\n";
