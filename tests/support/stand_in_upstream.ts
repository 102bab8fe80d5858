// A tiny upstream for fault injection only. It serves one package, as an npm packument, a PyPI
// Simple API page and a cargo sparse-index file, whose one file can be made to go missing, arrive corrupt, die
// mid-stream, arrive truncated, trickle, or never answer. Everything that does not need a fault
// is tested against the real public registries instead.
import { createHash } from "node:crypto";

export type TarballFault =
  | "none"
  | "corrupt"
  | "die-mid-stream"
  | "truncated"
  | "404"
  | "slow-headers"
  | "trickle"
  | "500";

export interface StandInUpstream {
  url: string;
  name: string;
  version: string;
  filename: string;
  tarball: Uint8Array;
  /** The PEP 658 metadata file of the PyPI flavour. */
  metadataFile: Uint8Array;
  fault: TarballFault;
  /** "html-error": every metadata document is a 200 text/html error page (a proxy's, say). */
  metadataFault: "none" | "html-error";
  /** Whether the packument response carries an ETag (and answers 304 to it). */
  sendEtag: boolean;
  /** Bumps the packument so it differs from what was cached. */
  description: string;
  packumentRequests: number;
  tarballRequests: number;
  conditionalRequests: number;
  pageRequests: number;
  close(): Promise<void>;
}

export function startStandInUpstream(
  options: { size?: number; name?: string; trickleMs?: number; trickleChunk?: number } = {},
): StandInUpstream {
  const name = options.name ?? "vm-fault-demo";
  const version = "1.0.0";
  const filename = `${name.split("/").pop()}-${version}.tgz`;
  const tarball = new Uint8Array(options.size ?? 256 * 1024);
  crypto.getRandomValues(tarball.subarray(0, Math.min(tarball.length, 65536)));
  for (let i = 65536; i < tarball.length; i++) tarball[i] = i % 251;
  const integrity = "sha512-" + createHash("sha512").update(tarball).digest("base64");
  const shasum = createHash("sha1").update(tarball).digest("hex");
  const sha256 = createHash("sha256").update(tarball).digest("hex");
  const metadataFile = new TextEncoder().encode(`Metadata-Version: 2.1\nName: ${name}\n`);
  const metadataSha256 = createHash("sha256").update(metadataFile).digest("hex");
  const abort = new AbortController();
  const pending = new Set<ReturnType<typeof setTimeout>>();
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        pending.delete(timer);
        resolve();
      }, ms);
      pending.add(timer);
    });

  const state: StandInUpstream = {
    url: "",
    name,
    version,
    filename,
    tarball,
    metadataFile,
    fault: "none",
    metadataFault: "none",
    sendEtag: true,
    description: "first",
    packumentRequests: 0,
    tarballRequests: 0,
    conditionalRequests: 0,
    pageRequests: 0,
    close: async () => {
      abort.abort();
      for (const timer of pending) clearTimeout(timer);
      await server.finished;
    },
  };

  const packument = () =>
    JSON.stringify({
      _id: name,
      name,
      description: state.description,
      "dist-tags": { latest: version },
      versions: {
        [version]: {
          name,
          version,
          scripts: { postinstall: "node -e 1" },
          dist: { integrity, shasum, tarball: `${state.url}/${name}/-/${filename}` },
        },
      },
      time: { modified: "2026-01-01T00:00:00.000Z" },
    });

  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: abort.signal, onListen: () => {} },
    async (request) => {
      const path = decodeURIComponent(new URL(request.url).pathname);
      const isMetadata = path === `/${name}` || path === `/simple/${name}/` ||
        path.startsWith("/index/");
      if (isMetadata && state.metadataFault === "html-error") {
        state.pageRequests++;
        return new Response("<html><body><h1>Service temporarily unavailable</h1></body></html>", {
          headers: { "content-type": "text/html" },
        });
      }
      if (path === `/${name}`) {
        state.packumentRequests++;
        const body = packument();
        const etag = `"${createHash("sha1").update(body).digest("hex")}"`;
        if (request.headers.has("if-none-match")) state.conditionalRequests++;
        if (state.sendEtag && request.headers.get("if-none-match") === etag) {
          return new Response(null, { status: 304, headers: { etag } });
        }
        return new Response(body, {
          headers: { "content-type": "application/json", ...(state.sendEtag ? { etag } : {}) },
        });
      }
      if (path === `/simple/${name}/`) {
        state.pageRequests++;
        if (state.fault === "500") return new Response("boom", { status: 500 });
        return Response.json({
          meta: { "api-version": "1.1" },
          name,
          versions: [version],
          files: [{
            filename,
            url: `${state.url}/${name}/-/${filename}`,
            hashes: { sha256 },
            "requires-python": ">=3.8",
            yanked: false,
            size: tarball.length,
            "core-metadata": { sha256: metadataSha256 },
          }],
        }, { headers: { "content-type": "application/vnd.pypi.simple.v1+json" } });
      }
      if (path === `/index/${name.slice(0, 2)}/${name.slice(2, 4)}/${name}`) {
        state.pageRequests++;
        if (state.fault === "500") return new Response("boom", { status: 500 });
        const line = { name, vers: version, deps: [], cksum: sha256, features: {}, yanked: false };
        return new Response(JSON.stringify(line) + "\n", {
          headers: { "content-type": "text/plain" },
        });
      }
      if (path === `/crates/${name}/${version}/download`) {
        state.tarballRequests++;
        return await tarballResponse();
      }
      if (path === `/${name}/-/${filename}.metadata`) return new Response(metadataFile);
      if (path === `/${name}/-/${filename}`) {
        state.tarballRequests++;
        return await tarballResponse();
      }
      return new Response("not found", { status: 404 });
    },
  );
  state.url = `http://127.0.0.1:${server.addr.port}`;

  async function tarballResponse(): Promise<Response> {
    const headers = { "content-length": String(tarball.length) };
    switch (state.fault) {
      case "404":
        return new Response("gone", { status: 404 });
      case "500":
        return new Response("boom", { status: 500 });
      case "slow-headers":
        await sleep(5_000);
        return new Response(tarball, { headers });
      case "corrupt": {
        const bad = tarball.slice();
        bad[bad.length >> 1] ^= 0xff;
        return new Response(bad, { headers });
      }
      case "truncated":
        // Claims the full length, sends half, then ends the connection.
        return new Response(
          new ReadableStream({
            start(controller) {
              controller.enqueue(tarball.slice(0, tarball.length >> 1));
              controller.close();
            },
          }),
          { headers },
        );
      case "die-mid-stream":
      case "trickle": {
        const dies = state.fault === "die-mid-stream";
        const chunk = options.trickleChunk ?? 16 * 1024;
        let offset = 0;
        const body = new ReadableStream<Uint8Array>({
          async pull(controller) {
            if (dies && offset >= tarball.length / 2) {
              controller.error(new Error("upstream died"));
              return;
            }
            if (!dies) await sleep(options.trickleMs ?? 20);
            const end = Math.min(offset + chunk, tarball.length);
            controller.enqueue(tarball.slice(offset, end));
            offset = end;
            if (offset >= tarball.length) controller.close();
          },
        });
        return new Response(body, { headers });
      }
      default:
        return new Response(tarball, { headers });
    }
  }

  return state;
}
