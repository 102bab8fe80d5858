// Starts the real registry server in-process on a free loopback port with a throwaway data dir.
import { readToken } from "../../src/registry/auth.ts";
import { silentLogger } from "../../src/registry/logger.ts";
import {
  type RegistryOptions,
  type RegistryStatus,
  type RunningRegistry,
  startRegistry,
} from "../../src/registry/server.ts";

export interface TestRegistry extends RunningRegistry {
  dataDir: string;
  npmUrl: string;
  /** The write token the server created in its data dir. */
  token: string;
  counters(): Promise<RegistryStatus["ecosystems"]["npm"]>;
}

export async function withRegistry(
  options: Partial<RegistryOptions>,
  fn: (registry: TestRegistry) => Promise<void>,
): Promise<void> {
  const dataDir = options.dataDir ?? await Deno.makeTempDir({ prefix: "vm-pkg-test-" });
  const registry = await startRegistry({
    port: 0,
    logger: silentLogger,
    ...options,
    dataDir,
  });
  const testRegistry: TestRegistry = {
    ...registry,
    dataDir,
    npmUrl: `${registry.url}/npm`,
    token: (await readToken(dataDir))!,
    counters: async () => (await registry.status()).ecosystems.npm,
  };
  try {
    await fn(testRegistry);
  } finally {
    await registry.shutdown();
    if (!options.dataDir) await Deno.remove(dataDir, { recursive: true });
  }
}

/** Lists files left in the registry's temp dir (must be empty when no download runs). */
export async function tempFiles(dataDir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(`${dataDir}/tmp`)) names.push(entry.name);
  } catch {
    // no tmp dir at all
  }
  return names;
}

export async function readBody(response: Response): Promise<Uint8Array> {
  return new Uint8Array(await response.arrayBuffer());
}

/**
 * A raw HTTP/1.1 GET, for headers fetch() will not send as given (Host). Returns status and body.
 */
export function rawGet(
  port: number,
  path: string,
  headers: Record<string, string>,
): Promise<{ status: number; body: string }> {
  return rawRequest(port, "GET", path, headers);
}

/** A raw HTTP/1.1 request with exactly the headers given (e.g. a Content-Length that lies). */
export async function rawRequest(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string>,
  body = "",
): Promise<{ status: number; body: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const lines = [`${method} ${path} HTTP/1.1`, "connection: close"];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  await conn.write(new TextEncoder().encode(lines.join("\r\n") + "\r\n\r\n" + body));
  // Read the head, then exactly Content-Length bytes (or to EOF without one): a server may keep
  // the connection open after answering early (e.g. a 413 before a body it will not read).
  const decoder = new TextDecoder();
  let text = "";
  const buffer = new Uint8Array(64 * 1024);
  try {
    while (true) {
      const headEnd = text.indexOf("\r\n\r\n");
      if (headEnd >= 0) {
        const length = /\r\ncontent-length:\s*(\d+)/i.exec(text.slice(0, headEnd));
        if (length && text.length - headEnd - 4 >= Number(length[1])) break;
      }
      const n = await conn.read(buffer);
      if (n === null) break;
      text += decoder.decode(buffer.subarray(0, n), { stream: true });
    }
  } finally {
    conn.close();
  }
  const [head, ...rest] = text.split("\r\n\r\n");
  return { status: Number(head.split(" ")[1]), body: rest.join("\r\n\r\n") };
}
