// nginx serving the same bytes as static files: the practical limit for serving them. A minimal
// config in the work dir (its own pid, log and temp paths; nothing of /etc/nginx or /var), one
// exact location per file with the content type vm pkg sent, sendfile, and gzip_static so a client
// that accepts gzip gets the precompressed copy (the very bytes vm pkg served), others the plain.
import { join } from "node:path";

export interface StaticFile {
  /** File name under the root; served at `/<name>`. */
  name: string;
  contentType: string;
  /** The uncompressed bytes. */
  plain: Uint8Array;
  /** The gzip-compressed bytes as vm pkg served them, when it served gzip. */
  gzip?: Uint8Array;
}

export interface RunningNginx {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 15_000;

export async function startNginx(
  nginx: string,
  workDir: string,
  port: number,
  files: StaticFile[],
): Promise<RunningNginx> {
  const root = join(workDir, "root");
  const temp = join(workDir, "temp");
  await Deno.mkdir(root, { recursive: true, mode: 0o755 });
  await Deno.mkdir(temp, { recursive: true, mode: 0o755 });
  for (const file of files) {
    // World-readable: nginx's workers run as an unprivileged user when the master is root.
    await Deno.writeFile(join(root, file.name), file.plain, { mode: 0o644 });
    if (file.gzip) await Deno.writeFile(join(root, `${file.name}.gz`), file.gzip, { mode: 0o644 });
  }
  const locations = files.map((file) =>
    `    location = /${file.name} { default_type "${file.contentType}"; }`
  );
  const config = [
    "worker_processes auto;",
    `pid ${join(workDir, "nginx.pid")};`,
    `error_log ${join(workDir, "error.log")} warn;`,
    "events { worker_connections 4096; }",
    "http {",
    "    access_log off;",
    ...["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map((kind) =>
      `    ${kind}_temp_path ${join(temp, kind)};`
    ),
    "    types {}",
    "    default_type application/octet-stream;",
    "    sendfile on;",
    "    tcp_nopush on;",
    "    tcp_nodelay on;",
    // A load generator keeps its connections for the whole run, as vm pkg lets it.
    "    keepalive_requests 1000000;",
    "    keepalive_timeout 75s;",
    "    gzip off;",
    "    gzip_static on;",
    "    server {",
    `        listen 127.0.0.1:${port};`,
    `        root ${root};`,
    ...locations,
    "    }",
    "}",
    "",
  ].join("\n");
  const configPath = join(workDir, "nginx.conf");
  await Deno.writeTextFile(configPath, config);
  const errorLog = join(workDir, "error.log");
  const child = new Deno.Command(nginx, {
    // -e: the startup error log too, before the config's error_log applies.
    args: ["-p", workDir, "-e", errorLog, "-c", configPath, "-g", "daemon off;"],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  let exited = false;
  child.status.then(() => exited = true);
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch {
      // Already exited.
    }
    await child.status;
    await stderr.catch(() => "");
  };
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (true) {
    if (exited) {
      const log = await Deno.readTextFile(errorLog).catch(() => "");
      throw new Error(`nginx exited at start:\n${(await stderr).trim()}\n${log.trim()}`);
    }
    try {
      const response = await fetch(`${url}/${files[0].name}`, {
        signal: AbortSignal.timeout(1000),
      });
      await response.body?.cancel();
      if (response.ok) break;
      throw new Error(`nginx answered ${response.status} for /${files[0].name}`);
    } catch (error) {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`nginx did not serve the files: ${(error as Error).message}`);
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { url, pid: child.pid, stop };
}
