// A diagnostic, not part of the report: where a cache hit's time goes in Deno.serve on this
// machine. A small server (a separate process, like vm pkg) answers the same bytes in layers that
// add up to vm pkg's hit path one step at a time: from memory; from a file (open, stat,
// file.readable); through a counting TransformStream (countBytes); after a Deno.Kv get and a
// Deno.stat (the record and the rendered copy); inside AsyncLocalStorage.run (client stats).
// wrk measures each layer like a load point.
//
//   deno run --allow-all bench/load/probe.ts [--duration S] [--connections 16,128]
//                                            [--small BYTES] [--large BYTES] [--layers L,...]
//                                            [--server-v8-flags FLAGS]
import { parseArgs } from "node:util";
import { AsyncLocalStorage } from "node:async_hooks";
import { join } from "node:path";
import { ensureTools } from "./tools.ts";
import { runWrk, writeWrkScript } from "./wrk.ts";
import { treeCpuSeconds, waitUntilIdle, watchMemory } from "./proc.ts";
import { table } from "../figures.ts";

const LAYERS = ["memory", "file", "file+count", "file+count+kv+stat", "file+count+kv+stat+als"];
type Layer = typeof LAYERS[number];

/** The server half: `probe.ts --serve PORT DIR`. */
async function serve(port: number, dir: string): Promise<void> {
  const kv = await Deno.openKv(join(dir, "kv.sqlite"));
  await kv.set(["npm", "packument", "probe"], { name: "probe", fullDigest: "x".repeat(64) });
  const files: Record<string, { path: string; bytes: Uint8Array }> = {};
  for (const name of ["small", "large"]) {
    const path = join(dir, name);
    files[name] = { path, bytes: await Deno.readFile(path) };
  }
  const storage = new AsyncLocalStorage<string>();
  let counted = 0;
  const count = (body: ReadableStream<Uint8Array>) =>
    body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          counted += chunk.byteLength;
          controller.enqueue(chunk);
        },
      }),
    );
  const fromFile = async (path: string, counting: boolean) => {
    const file = await Deno.open(path, { read: true });
    const { size } = await file.stat();
    const headers = { "content-length": String(size), "content-type": "application/octet-stream" };
    return new Response(counting ? count(file.readable) : file.readable, { headers });
  };
  const handle = async (layer: Layer, name: string): Promise<Response> => {
    const file = files[name];
    switch (layer) {
      case "memory":
        return new Response(file.bytes as BodyInit, {
          headers: { "content-type": "application/octet-stream" },
        });
      case "file":
        return await fromFile(file.path, false);
      case "file+count":
        return await fromFile(file.path, true);
      default: {
        await kv.get(["npm", "packument", "probe"]);
        await Deno.stat(file.path);
        return await fromFile(file.path, true);
      }
    }
  };
  Deno.serve({ hostname: "127.0.0.1", port, onListen: () => console.log("ready") }, (request) => {
    const url = new URL(request.url);
    if (url.pathname === "/memory") return Response.json(Deno.memoryUsage());
    const [, layer, name] = url.pathname.split("/");
    if (layer === "file+count+kv+stat+als") {
      return storage.run("127.0.0.1", () => handle(layer, name));
    }
    return handle(layer, name);
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      serve: { type: "string" },
      dir: { type: "string" },
      duration: { type: "string", default: "3" },
      connections: { type: "string", default: "16,128" },
      small: { type: "string", default: "2783" },
      large: { type: "string", default: "4200000" },
      "server-v8-flags": { type: "string" },
      layers: { type: "string" },
    },
  });
  if (values.serve) return await serve(Number(values.serve), values.dir!);

  const tools = await ensureTools((line) => console.error(line));
  const dir = await Deno.makeTempDir({ prefix: "vm-load-probe-" });
  const sizes = { small: Number(values.small), large: Number(values.large) };
  for (const [name, bytes] of Object.entries(sizes)) {
    const data = new Uint8Array(bytes);
    for (let i = 0; i < bytes; i += 65536) crypto.getRandomValues(data.subarray(i, i + 65536));
    await Deno.writeFile(join(dir, name), data);
  }
  const script = await writeWrkScript(dir);
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      "--unstable-kv",
      ...(values["server-v8-flags"] ? [`--v8-flags=${values["server-v8-flags"]}`] : []),
      import.meta.filename!,
      "--serve",
      String(port),
      "--dir",
      dir,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  while (!(await reader.read()).value?.includes("ready")) { /* wait for the listener */ }
  const rows = [[
    "body",
    "layer",
    "conns",
    "req/s",
    "p50 ms",
    "p99 ms",
    "MB/s",
    "srv CPU",
    "peak RSS",
    "V8 heap",
    "external",
  ]];
  try {
    const connections = values.connections.split(",").map(Number);
    for (const name of ["small", "large"] as const) {
      const chosen = values.layers?.split(",");
      const layers = (name === "small" ? LAYERS : LAYERS.slice(0, 3))
        .filter((layer) => !chosen || chosen.includes(layer));
      for (const layer of layers) {
        const url = `http://127.0.0.1:${port}/${layer}/${name}`;
        await runWrk({ wrk: tools.wrk, script, url, headers: {}, connections: 1, seconds: 1 });
        for (const count of connections) {
          const cpu = await treeCpuSeconds(child.pid);
          const memory = await watchMemory(child.pid);
          const result = await runWrk({
            wrk: tools.wrk,
            script,
            url,
            headers: {},
            connections: count,
            seconds: Number(values.duration),
          });
          const used = (await treeCpuSeconds(child.pid)) - cpu;
          const { peakBytes } = await memory.stop();
          const usage = await (await fetch(`http://127.0.0.1:${port}/memory`)).json();
          await waitUntilIdle(child.pid);
          rows.push([
            `${name} (${sizes[name]} B)`,
            layer,
            String(count),
            (result.requests / result.seconds).toFixed(0),
            result.p50Ms.toFixed(2),
            result.p99Ms.toFixed(2),
            (result.bytes / result.seconds / 1e6).toFixed(1),
            `${(used / result.seconds * 100).toFixed(0)}%`,
            `${(peakBytes / 1e6).toFixed(0)} MB`,
            `${(usage.heapTotal / 1e6).toFixed(0)} MB`,
            `${(usage.external / 1e6).toFixed(0)} MB`,
          ]);
          console.error(rows[rows.length - 1].join("  "));
        }
      }
    }
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await Deno.remove(dir, { recursive: true });
  }
  console.log(
    `Deno ${Deno.version.deno}, ${tools.wrkVersion}; one Deno.serve process, wrk threads = min(c, 2)`,
  );
  console.log(table(rows, 2));
}

if (import.meta.main) await main();
