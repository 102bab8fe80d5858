// How CLI commands reach a registry: the one given with --server, or the one running from the
// data dir; and the write token, from VM_PKG_TOKEN or the data dir's token file. Connection
// failures become one clear line.
import { readToken } from "../registry/auth.ts";
import { findServer } from "../daemon/server_record.ts";
import { CliError } from "../host/errors.ts";

export interface RegistryTarget {
  url: string;
  token?: string;
}

export const TOKEN_ENV = "VM_PKG_TOKEN";

export async function resolveRegistry(
  options: { server?: string; dataDir: string },
  needsToken: boolean,
): Promise<RegistryTarget> {
  let url = options.server?.replace(/\/+$/, "");
  if (!url) {
    const found = await findServer(options.dataDir);
    if (found.state === "stopped") {
      throw new CliError(
        "the registry is not running (start it with `vm pkg start`, or pass --server URL)",
      );
    }
    if (found.state === "unresponsive") {
      throw new CliError(
        `the registry (pid ${found.record.pid}) does not answer at ${found.record.url}`,
      );
    }
    url = found.record.url;
  }
  const token = Deno.env.get(TOKEN_ENV) || await readToken(options.dataDir).catch(() => undefined);
  if (needsToken && !token) {
    throw new CliError(
      `no write token: set ${TOKEN_ENV} (run \`vm pkg token\` where the registry runs)`,
    );
  }
  return { url, token };
}

/** fetch against the registry, with a clear error when nothing answers. */
export async function registryFetch(
  target: RegistryTarget,
  path: string,
  init: RequestInit & { write?: boolean } = {},
): Promise<Response> {
  const headers = new Headers(init.headers);
  if (init.write && target.token) headers.set("authorization", `Bearer ${target.token}`);
  try {
    return await fetch(`${target.url}${path}`, { ...init, headers });
  } catch (error) {
    throw new CliError(`no registry answers at ${target.url} (${connectionProblem(error)})`);
  }
}

/** The useful part of a fetch failure (Deno puts the socket error in `cause`). */
export function connectionProblem(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : "";
  const text = `${message} ${cause}`;
  if (/Connection refused|ECONNREFUSED/i.test(text)) return "connection refused";
  if (/timed? ?out|TimeoutError/i.test(text)) return "timed out";
  if (/dns error|failed to lookup|Name or service not known/i.test(text)) return "unknown host";
  return (cause || message).split("\n")[0];
}
