// The listener alone (src/registry/listener.ts): the cap's arithmetic and choices, and the adapter
// between node:http and the (Request, info) => Response handler, on a loopback port.
import assert from "node:assert/strict";
import type { Socket } from "node:net";
import {
  ConnectionGate,
  descriptorLimit,
  listenHttp,
  maxConnectionsFor,
  type RequestHandler,
} from "../../src/registry/listener.ts";
import { isLoopback } from "../../src/registry/auth.ts";

Deno.test("the cap leaves room below the descriptor limit, within sensible bounds", () => {
  assert.equal(maxConnectionsFor(512), 85);
  assert.equal(maxConnectionsFor(1024), 256);
  assert.equal(maxConnectionsFor(undefined), 256);
  assert.equal(maxConnectionsFor(20_000), 4096);
  assert.equal(maxConnectionsFor(Number.MAX_SAFE_INTEGER), 4096);
  assert.equal(maxConnectionsFor(100), 16);
  if (Deno.build.os === "linux") {
    const limits = Deno.readTextFileSync("/proc/self/limits");
    const soft = Number(/^Max open files\s+(\d+)/m.exec(limits)![1]);
    assert.equal(descriptorLimit(), soft);
  }
});

/** A stand-in socket: the gate only destroys sockets and listens for their close. */
function fakeSocket(name: string) {
  const listeners: (() => void)[] = [];
  const socket = {
    name,
    destroyed: false,
    bytesRead: 0,
    bytesWritten: 0,
    destroy() {
      if (socket.destroyed) return;
      socket.destroyed = true;
      for (const listener of listeners) listener();
    },
    destroySoon() {
      socket.destroy();
    },
    once(_event: string, listener: () => void) {
      listeners.push(listener);
    },
  };
  return socket as typeof socket & Socket;
}

Deno.test("at the cap the connection idle longest makes room; when all are busy a new one is refused", () => {
  const capped: boolean[] = [];
  const gate = new ConnectionGate({
    max: 3,
    idleTimeoutMs: 60_000,
    onCap: (_figures, refused) => capped.push(refused),
  });
  const [a, b, c, d, e, f] = ["a", "b", "c", "d", "e", "f"].map(fakeSocket);
  gate.admit(a);
  gate.admit(b);
  gate.admit(c);
  gate.requestStarted(a);
  gate.requestStarted(c);
  gate.requestEnded(c); // c is idle again, more recently than b
  gate.admit(d); // b: idle longest
  assert.deepEqual([a, b, c, d].map((s) => s.destroyed), [false, true, false, false]);
  gate.requestStarted(d);
  gate.admit(e); // c: the only idle one
  assert.equal(c.destroyed, true);
  gate.requestStarted(e);
  gate.admit(f); // a, d and e are busy: f is refused
  assert.equal(f.destroyed, true);
  assert.deepEqual(gate.figures(), {
    open: 3,
    active: 3,
    max: 3,
    refused: 1,
    evicted: 2,
    timedOut: 0,
  });
  assert.deepEqual(capped, [false, false, true]);
  // A closed connection frees its place.
  a.destroy();
  assert.equal(gate.figures().open, 2);
  // Closing: idle ones go at once, busy ones once their request ends, new ones are turned away.
  gate.requestEnded(d);
  gate.close();
  assert.equal(d.destroyed, true);
  assert.equal(e.destroyed, false);
  gate.requestEnded(e);
  assert.equal(e.destroyed, true);
  const late = fakeSocket("late");
  gate.admit(late);
  assert.equal(late.destroyed, true);
  assert.throws(() => new ConnectionGate({ max: 0, idleTimeoutMs: 1 }), /positive whole number/);
});

Deno.test("the sweep closes connections idle, or busy without a byte moving, for the idle timeout", () => {
  const gate = new ConnectionGate({ max: 10, idleTimeoutMs: 1000 });
  try {
    const [idle, stalled, moving] = ["idle", "stalled", "moving"].map(fakeSocket);
    const start = performance.now();
    for (const socket of [idle, stalled, moving]) gate.admit(socket);
    gate.requestStarted(stalled);
    gate.requestStarted(moving);
    gate.sweep(start + 500);
    moving.bytesWritten += 65536;
    gate.sweep(start + 900);
    moving.bytesWritten += 65536;
    gate.sweep(start + 1200);
    assert.deepEqual([idle, stalled, moving].map((s) => s.destroyed), [true, true, false]);
    assert.equal(gate.figures().timedOut, 2);
  } finally {
    gate.close();
  }
});

Deno.test("loopback peers: 127.0.0.0/8 and ::1, also IPv4-mapped; nothing else", () => {
  for (const address of ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1", "0:0:0:0:0:0:0:1"]) {
    assert.equal(isLoopback(address), true, address);
  }
  for (
    const address of ["172.17.0.2", "192.0.2.2", "::ffff:172.17.0.2", "", "127.0.0.1.evil", "::2"]
  ) {
    assert.equal(isLoopback(address), false, address);
  }
});

async function withListener(
  handler: RequestHandler,
  fn: (url: string) => Promise<void>,
  limits = { headerTimeoutMs: 2000, idleTimeoutMs: 2000, requestTimeoutMs: 5000 },
): Promise<void> {
  const gate = new ConnectionGate({ max: 64, idleTimeoutMs: limits.idleTimeoutMs });
  const listener = await listenHttp({
    hostname: "127.0.0.1",
    port: 0,
    gate,
    limits,
    handler,
    onError: (error) => {
      throw error;
    },
  });
  try {
    await fn(`http://127.0.0.1:${listener.addr.port}`);
  } finally {
    await listener.shutdown();
  }
}

Deno.test("the handler gets the request (method, URL, headers, client address, a streamed body)", async () => {
  const seen: Record<string, unknown>[] = [];
  await withListener(async (request, info) => {
    const body = request.body ? new Uint8Array(await request.arrayBuffer()).byteLength : null;
    seen.push({
      method: request.method,
      url: request.url,
      custom: request.headers.get("x-custom"),
      client: info.remoteAddr.hostname,
      body,
    });
    return new Response(`${request.method} ${new URL(request.url).pathname}\n`, {
      headers: { "x-answer": "yes" },
    });
  }, async (url) => {
    const get = await fetch(`${url}/npm/a%2fb?x=1`, { headers: { "x-custom": "1" } });
    assert.equal(await get.text(), "GET /npm/a%2fb\n");
    assert.equal(get.headers.get("x-answer"), "yes");
    assert.equal(get.headers.get("content-length"), "15");
    const chunks = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 10; i++) controller.enqueue(new Uint8Array(100_000));
        controller.close();
      },
    });
    const put = await fetch(`${url}/upload`, { method: "PUT", body: chunks });
    assert.equal(await put.text(), "PUT /upload\n");
    const head = await fetch(`${url}/npm/x`, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), "");
  });
  assert.deepEqual(seen.map((each) => each.body), [null, 1_000_000, null]);
  assert.equal(seen[0].url, new URL(seen[0].url as string).href);
  assert.match(seen[0].url as string, /^http:\/\/127\.0\.0\.1:\d+\/npm\/a%2fb\?x=1$/);
  assert.equal(seen[0].custom, "1");
  assert.equal(seen[0].client, "127.0.0.1");
});

Deno.test("a Host that is not a plain host[:port] cannot move the path: the listen address is used", async () => {
  const urls: string[] = [];
  await withListener((request) => {
    urls.push(request.url);
    return Promise.resolve(new Response("ok"));
  }, async (url) => {
    const port = new URL(url).port;
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(port) });
    try {
      await conn.write(
        new TextEncoder().encode("GET /npm/x HTTP/1.1\r\nHost: evil.example/elsewhere?\r\n\r\n"),
      );
      const buffer = new Uint8Array(1024);
      await conn.read(buffer);
    } finally {
      conn.close();
    }
    assert.deepEqual(urls, [`http://127.0.0.1:${port}/npm/x`]);
  });
});

Deno.test("a response body streams with backpressure and one that fails mid-way breaks the response", async () => {
  let pulled = 0;
  await withListener((request) => {
    if (new URL(request.url).pathname === "/broken") {
      let sent = 0;
      return Promise.resolve(
        new Response(
          new ReadableStream({
            pull(controller) {
              if (sent++ < 3) controller.enqueue(new Uint8Array(1000));
              else controller.error(new Error("upstream cut off"));
            },
          }),
          { headers: { "content-length": "100000" } },
        ),
      );
    }
    // 64 MiB on demand: a client that does not read must stop the pulling.
    return Promise.resolve(
      new Response(
        new ReadableStream({
          pull(controller) {
            if (pulled >= 1024) return controller.close();
            pulled++;
            controller.enqueue(new Uint8Array(64 * 1024));
          },
        }),
      ),
    );
  }, async (url) => {
    const response = await fetch(`${url}/big`);
    const reader = response.body!.getReader();
    await reader.read();
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.ok(pulled < 256, `pulled ${pulled} chunks of 64 KiB for a client that read one`);
    let received = 0;
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      received += value.byteLength;
    }
    assert.ok(received > 60 * 1024 * 1024);
    await assert.rejects(async () => await (await fetch(`${url}/broken`)).arrayBuffer());
  });
});

Deno.test("a body cut off by the handler gets its answer, and its connection does not stay", async () => {
  await withListener(async (request) => {
    const reader = request.body!.getReader();
    let total = 0;
    while (total < 1024 * 1024) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
    }
    await reader.cancel();
    return new Response("too large\n", { status: 413 });
  }, async (url) => {
    let sent = 0;
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        sent += 64 * 1024;
        controller.enqueue(new Uint8Array(64 * 1024));
      },
    });
    const started = performance.now();
    const response = await fetch(`${url}/audit`, { method: "POST", body: endless });
    assert.equal(response.status, 413);
    assert.equal(await response.text(), "too large\n");
    // The rest is read and dropped for a few seconds at most, then the connection goes.
    assert.ok(performance.now() - started < 8000);
    assert.ok(sent < 4 * 1024 ** 3);
  });
});

Deno.test("a header value node:http refuses becomes a 500, not a connection that never answers", async () => {
  const errors: unknown[] = [];
  const gate = new ConnectionGate({ max: 8, idleTimeoutMs: 2000 });
  const listener = await listenHttp({
    hostname: "127.0.0.1",
    port: 0,
    gate,
    limits: { headerTimeoutMs: 2000, requestTimeoutMs: 5000 },
    handler: () => Promise.resolve(new Response("x", { headers: { "x-odd": "a\x01b" } })),
    onError: (error) => errors.push(error),
  });
  try {
    const response = await fetch(`http://127.0.0.1:${listener.addr.port}/`);
    assert.equal(response.status, 500);
    await response.body?.cancel();
    assert.equal(errors.length, 1);
  } finally {
    await listener.shutdown();
  }
});
