// The route table and the skeleton every request goes through (dispatch.ts): matching, 405 with
// Allow, HEAD as GET without the body, each owner's error shape, counting, and the listing.
import assert from "node:assert/strict";
import { cargo } from "../../src/registry/cargo/mod.ts";
import { dispatcher } from "../../src/registry/dispatch.ts";
import { CountedResponse, errorResponse, jsonResponse } from "../../src/registry/http.ts";
import { silentLogger } from "../../src/registry/logger.ts";
import { ClientError } from "../../src/registry/request_body.ts";
import { route, type RouteOwner, RouteTable } from "../../src/registry/route_table.ts";

Deno.test("patterns: literals, one-segment and many-segment parameters, parsers that refuse", () => {
  const table = new RouteTable().add(undefined, [
    route({ method: "GET", pattern: "/a/:x", description: "one", handle: () => new Response() }),
    route({
      method: "GET",
      pattern: "/m/:module+/@v/:file",
      description: "rest in the middle",
      handle: () => new Response(),
    }),
    route({
      method: "GET",
      pattern: "/n/:name/:tail",
      description: "only digits",
      params: (raw) => /^\d+$/.test(raw.name) ? { digits: Number(raw.name) } : undefined,
      handle: () => new Response(),
    }),
    route({
      method: "GET",
      pattern: "/n/:name/:tail",
      description: "anything else",
      handle: () => new Response(),
    }),
    route({ method: "GET", pattern: "/s/", description: "slash", handle: () => new Response() }),
  ]);
  const found = (path: string) => {
    const match = table.match("GET", path);
    return match.kind === "found"
      ? { description: match.entry.route.description, params: match.route.params }
      : match.kind;
  };
  assert.deepEqual(found("/a/b"), { description: "one", params: { x: "b" } });
  assert.equal(found("/a/"), "none", "a parameter is never empty");
  assert.equal(found("/a/b/c"), "none");
  assert.deepEqual(found("/m/github.com/x/y/@v/v1.0.0.zip"), {
    description: "rest in the middle",
    params: { module: "github.com/x/y", file: "v1.0.0.zip" },
  });
  assert.equal(found("/m/@v/list"), "none", "+ needs at least one segment");
  // A parser that refuses lets the next route try.
  assert.deepEqual(found("/n/42/x"), { description: "only digits", params: { digits: 42 } });
  assert.deepEqual(found("/n/abc/x"), {
    description: "anything else",
    params: { name: "abc", tail: "x" },
  });
  assert.equal((found("/s/") as { description: string }).description, "slash");
  assert.equal(found("/s"), "none");
  assert.throws(
    () =>
      route({ method: "GET", pattern: "/:a+/:b*", description: "", handle: () => new Response() }),
    /at most one/,
  );
});

/** A small server: one owner with cargo's error shape under /eco, and the server's own route. */
function fixture() {
  const calls: string[] = [];
  let counted = 0;
  let sent = 0;
  const owner: RouteOwner = {
    ecosystem: "eco",
    prefix: "/eco",
    formatError: cargo.formatError,
    unmatched: (path) => ({ status: 400, message: `not an eco path: ${path}` }),
    count: () => counted++,
  };
  const table = new RouteTable()
    .add(undefined, [
      route({
        method: "GET",
        pattern: "/-/own",
        description: "the server's",
        handle: () => errorResponse(418, "the server's own error"),
      }),
    ])
    .add(owner, [
      route({
        method: "GET",
        pattern: "/eco/file/:name",
        description: "a file",
        subject: ({ name }) => `file ${name}`,
        handle: (request, { name }) => {
          calls.push(`${request.method} ${name}`);
          if (name === "missing") return errorResponse(404, `${name} is not here`);
          if (name === "bad") throw new ClientError(422, "bad input");
          if (name === "broken") throw new Error("a bug");
          const body = new TextEncoder().encode(`contents of ${name}`);
          return new CountedResponse(body, {
            headers: { "content-length": String(body.byteLength) },
          }, () => sent += body.byteLength);
        },
      }),
      route({
        method: ["PUT", "DELETE"],
        pattern: "/eco/file/:name",
        description: "write a file",
        handle: (request) => jsonResponse({ method: request.method }),
      }),
    ]);
  const dispatch = dispatcher(table, silentLogger);
  const request = (method: string, path: string) =>
    dispatch(new Request(`http://127.0.0.1${path}`, { method }), "127.0.0.1");
  return { table, request, calls, counted: () => counted, sent: () => sent };
}

Deno.test("a known path with another method: 405 with Allow, HEAD beside GET", async () => {
  const { request, calls, counted } = fixture();
  const response = await request("POST", "/eco/file/x");
  assert.equal(response.status, 405);
  assert.equal(response.headers.get("allow"), "GET, HEAD, PUT, DELETE");
  assert.deepEqual(await response.json(), {
    errors: [{ detail: "POST is not supported on /eco/file/x" }],
  });
  assert.deepEqual(calls, [], "no handler ran");
  assert.equal(counted(), 0, "a refused method is not a request of the ecosystem");
  const put = await request("PUT", "/eco/file/x");
  assert.deepEqual(await put.json(), { method: "PUT" });
  assert.equal(counted(), 1);
});

Deno.test("HEAD runs the GET route and drops its body; bytes are counted only when sent", async () => {
  const { request, calls, sent } = fixture();
  const head = await request("HEAD", "/eco/file/a");
  assert.equal(head.status, 200);
  assert.equal(head.headers.get("content-length"), String("contents of a".length));
  assert.equal(head.body, null);
  assert.deepEqual(calls, ["GET a"], "the GET route ran, as a GET");
  assert.equal(sent(), 0, "nothing was sent");
  const get = await request("GET", "/eco/file/a");
  assert.equal(await get.text(), "contents of a");
  assert.equal(sent(), "contents of a".length);
});

Deno.test("errors take the owner's shape, whoever made them; the server's keep {error}", async () => {
  const { request, counted } = fixture();
  const cases: [string, string, number, string][] = [
    ["GET", "/eco/file/missing", 404, "missing is not here"],
    ["GET", "/eco/file/bad", 422, "bad input"],
    ["GET", "/eco/file/broken", 500, "internal error while serving file broken"],
    ["GET", "/eco/nothing/here", 400, "not an eco path: /eco/nothing/here"],
  ];
  for (const [method, path, status, detail] of cases) {
    const response = await request(method, path);
    assert.equal(response.status, status, path);
    assert.deepEqual(await response.json(), { errors: [{ detail }] }, path);
  }
  assert.equal(counted(), 3, "the three requests a route took; not the unmatched one");
  const own = await request("GET", "/-/own");
  assert.equal(own.status, 418);
  assert.deepEqual(await own.json(), { error: "the server's own error" });
  const unknown = await request("GET", "/elsewhere");
  assert.equal(unknown.status, 404);
  assert.deepEqual(await unknown.json(), { error: "no such route: /elsewhere" });
  // A HEAD of an error keeps its status and headers, without the body.
  const head = await request("HEAD", "/eco/file/missing");
  assert.equal(head.status, 404);
  assert.equal(head.body, null);
});

Deno.test("the listing: one entry per method, in matching order, with the owner", () => {
  const { table } = fixture();
  assert.deepEqual(table.list(), [
    { method: "GET", pattern: "/-/own", ecosystem: null, description: "the server's" },
    { method: "GET", pattern: "/eco/file/:name", ecosystem: "eco", description: "a file" },
    { method: "PUT", pattern: "/eco/file/:name", ecosystem: "eco", description: "write a file" },
    {
      method: "DELETE",
      pattern: "/eco/file/:name",
      ecosystem: "eco",
      description: "write a file",
    },
  ]);
});
