// A stand-in npm upstream serving many packages, one version and one tarball each, so many
// distinct cold downloads can run at once. Tarball bodies can be held part-way ("hold"), which
// keeps every download in flight until released: a deterministic moment to crash the server.
// Loopback only; for reliability tests (crashes, a full disk), not protocol coverage.
import { createHash } from "node:crypto";

export interface PackageSpec {
  name: string;
  /** Tarball size in bytes. */
  size: number;
  /** Omit Content-Length (a chunked body), so the server cannot know the size in advance. */
  chunked?: boolean;
}

export interface ServedPackage {
  name: string;
  version: string;
  filename: string;
  tarball: Uint8Array;
  chunked: boolean;
}

export interface ManyPackagesUpstream {
  url: string;
  packages: ServedPackage[];
  /** Hold each tarball body after this many bytes until release(); undefined: no hold. */
  holdAfter: number | undefined;
  /** Lets every held body (and every later one) finish. */
  release(): void;
  packumentRequests: number;
  tarballRequests: number;
  /** Tarball bodies that have started and have neither finished nor been cut off. */
  tarballsInFlight: number;
  /** Bodies waiting at the hold point right now. */
  tarballsHeld: number;
  tarballsCompleted: number;
  close(): Promise<void>;
}

const CHUNK = 64 * 1024;

/** Random bytes (getRandomValues fills at most 64 KiB per call). */
export function randomBytes(size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let offset = 0; offset < size; offset += 65536) {
    crypto.getRandomValues(bytes.subarray(offset, Math.min(size, offset + 65536)));
  }
  return bytes;
}

export function startManyPackagesUpstream(
  options: { count?: number; size?: number; packages?: PackageSpec[]; holdAfter?: number } = {},
): ManyPackagesUpstream {
  const specs: PackageSpec[] = options.packages ??
    Array.from({ length: options.count ?? 10 }, (_, i) => ({
      name: `vm-many-${String(i).padStart(3, "0")}`,
      size: options.size ?? 64 * 1024,
    }));
  const packages: ServedPackage[] = specs.map((spec) => ({
    name: spec.name,
    version: "1.0.0",
    filename: `${spec.name}-1.0.0.tgz`,
    tarball: randomBytes(spec.size),
    chunked: spec.chunked ?? false,
  }));
  const byName = new Map(packages.map((pkg) => [pkg.name, pkg]));
  const integrity = new Map(
    packages.map((
      pkg,
    ) => [pkg.name, "sha512-" + createHash("sha512").update(pkg.tarball).digest("base64")]),
  );
  const abort = new AbortController();
  let releaseHold!: () => void;
  const released = new Promise<void>((resolve) => releaseHold = resolve);

  const state: ManyPackagesUpstream = {
    url: "",
    packages,
    holdAfter: options.holdAfter,
    release: () => {
      state.holdAfter = undefined;
      releaseHold();
    },
    packumentRequests: 0,
    tarballRequests: 0,
    tarballsInFlight: 0,
    tarballsHeld: 0,
    tarballsCompleted: 0,
    close: async () => {
      state.release(); // a held body must not keep the server from finishing
      abort.abort();
      await server.finished;
    },
  };

  const packument = (pkg: ServedPackage) =>
    JSON.stringify({
      _id: pkg.name,
      name: pkg.name,
      "dist-tags": { latest: pkg.version },
      versions: {
        [pkg.version]: {
          name: pkg.name,
          version: pkg.version,
          dist: {
            integrity: integrity.get(pkg.name),
            tarball: `${state.url}/${pkg.name}/-/${pkg.filename}`,
          },
        },
      },
    });

  const tarballBody = (pkg: ServedPackage): ReadableStream<Uint8Array> => {
    let offset = 0;
    let done = false;
    let held = false;
    const finish = (completed: boolean) => {
      if (done) return;
      done = true;
      state.tarballsInFlight--;
      if (held) state.tarballsHeld--;
      held = false;
      if (completed) state.tarballsCompleted++;
    };
    state.tarballsInFlight++;
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        const holdAt = state.holdAfter;
        if (holdAt !== undefined && offset >= holdAt) {
          held = true;
          state.tarballsHeld++;
          await released;
          if (done) return; // cut off while held
          held = false;
          state.tarballsHeld--;
        }
        const limit = state.holdAfter !== undefined && offset < state.holdAfter
          ? state.holdAfter
          : pkg.tarball.length;
        const end = Math.min(offset + CHUNK, limit, pkg.tarball.length);
        controller.enqueue(pkg.tarball.slice(offset, end));
        offset = end;
        if (offset >= pkg.tarball.length) {
          finish(true);
          controller.close();
        }
      },
      cancel() {
        finish(false);
      },
    });
  };

  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: abort.signal, onListen: () => {} },
    (request) => {
      const path = decodeURIComponent(new URL(request.url).pathname);
      const [name, dash, filename] = path.slice(1).split("/");
      const pkg = byName.get(name);
      if (pkg && dash === undefined) {
        state.packumentRequests++;
        return new Response(packument(pkg), { headers: { "content-type": "application/json" } });
      }
      if (pkg && dash === "-" && filename === pkg.filename) {
        state.tarballRequests++;
        const headers: Record<string, string> = pkg.chunked
          ? {}
          : { "content-length": String(pkg.tarball.length) };
        return new Response(tarballBody(pkg), { headers });
      }
      return new Response("not found", { status: 404 });
    },
  );
  state.url = `http://127.0.0.1:${server.addr.port}`;
  return state;
}
