// The real registry as a separate process (`vm pkg start --foreground`), owned by the test: it
// can be killed with any signal, and its output is collected for diagnostics.
import { selfCommand } from "../../src/daemon/self_command.ts";
import { ECOSYSTEMS } from "../../src/registry/ecosystems.ts";

export interface ServerProcess {
  pid: number;
  url: string;
  /** Milliseconds from spawn until /-/health answered. */
  startMs: number;
  kill(signal: Deno.Signal): void;
  /** Resolves when the process has exited and its output has been read. */
  exited(): Promise<{ status: Deno.CommandStatus; output: string }>;
}

export interface ServerProcessOptions {
  port: number;
  dataDir: string;
  /** The stand-in upstream every ecosystem's upstream settings point at. */
  npmUpstream: string;
  /** Extra `pkg start` flags. */
  args?: string[];
  timeoutMs?: number;
}

export async function startServerProcess(options: ServerProcessOptions): Promise<ServerProcess> {
  const { command, args } = selfCommand([
    "pkg",
    "start",
    "--foreground",
    "--port",
    String(options.port),
    "--data",
    options.dataDir,
    "--no-config",
    "--no-bridge",
    // Every upstream is the stand-in: never the public registries, whatever a test asks for.
    ...ECOSYSTEMS.flatMap((ecosystem) => ecosystem.upstreams).flatMap((setting) => [
      `--${setting.key.replaceAll("_", "-")}`,
      options.npmUpstream,
    ]),
    ...(options.args ?? []),
  ]);
  const started = performance.now();
  const child = new Deno.Command(command, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    // No user config file: every setting is a flag or the default.
    env: { VM_PKG_CONFIG: `${options.dataDir}/no-such-config.yaml` },
  }).spawn();
  const decoder = new TextDecoder();
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    let text = "";
    for await (const chunk of stream) text += decoder.decode(chunk, { stream: true });
    return text;
  };
  const outputs = Promise.all([collect(child.stdout), collect(child.stderr)]);
  let exited = false;
  const status = child.status.then((status) => {
    exited = true;
    return status;
  });
  const finished = async () => {
    const [status_, [stdout, stderr]] = await Promise.all([status, outputs]);
    return { status: status_, output: stdout + stderr };
  };

  const url = `http://127.0.0.1:${options.port}`;
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  while (true) {
    if (exited) {
      const { status, output } = await finished();
      throw new Error(`the server exited (code ${status.code}) before answering:\n${output}`);
    }
    try {
      const health = await fetch(`${url}/-/health`);
      const body = await health.json();
      if (body.ok && body.pid === child.pid) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      const { output } = await finished();
      throw new Error(`the server did not answer within the timeout:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return {
    pid: child.pid,
    url,
    startMs: performance.now() - started,
    kill: (signal) => {
      if (!exited) child.kill(signal);
    },
    exited: finished,
  };
}
