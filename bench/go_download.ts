// One measured `go mod download all` of a realistic go.mod with a fresh, empty module cache: the
// .mod of every module in the graph and the .zip of every module in the build list, each checked
// by the go command against the checksum database (fetched through the same proxy), either from
// proxy.golang.org directly or through `vm pkg` as GOPROXY.
import { join } from "node:path";

import { PUBLIC_GOPROXY } from "./registry_server.ts";

/** A service-shaped go.mod: HTTP framework, CLI, logging, tests, metrics, YAML, UUIDs. */
export const GO_REQUIREMENTS: Readonly<Record<string, string>> = {
  "github.com/gin-gonic/gin": "v1.9.1",
  "github.com/spf13/cobra": "v1.8.0",
  "github.com/sirupsen/logrus": "v1.9.3",
  "github.com/stretchr/testify": "v1.8.4",
  "golang.org/x/sync": "v0.6.0",
  "github.com/google/uuid": "v1.6.0",
  "gopkg.in/yaml.v3": "v3.0.1",
  "github.com/prometheus/client_golang": "v1.18.0",
};

export interface GoDownloadResult {
  seconds: number;
  /** Every module downloaded as `path@version sum`, sorted. */
  tree: string[];
}

/** `goproxy` undefined means proxy.golang.org itself; otherwise the vm server's `/go` URL. */
export async function goDownloadOnce(
  goproxy: string | undefined,
  workDir: string,
  signal?: AbortSignal,
): Promise<GoDownloadResult> {
  const project = join(workDir, "project");
  await Deno.mkdir(project, { recursive: true });
  const requires = Object.entries(GO_REQUIREMENTS).map(([path, version]) => `\t${path} ${version}`);
  await Deno.writeTextFile(
    join(project, "go.mod"),
    `module example.com/vmbench\n\ngo 1.21\n\nrequire (\n${requires.join("\n")}\n)\n`,
  );
  const started = performance.now();
  const output = await new Deno.Command("go", {
    args: ["mod", "download", "-json", "all"],
    cwd: project,
    env: {
      ...goFreeEnv(),
      GOPROXY: goproxy ?? PUBLIC_GOPROXY,
      // Checked through the proxy (`<proxy>/sumdb/sum.golang.org/...`), as the go command does
      // when its proxy says it supports the checksum database.
      GOSUMDB: "sum.golang.org",
      GOMODCACHE: join(workDir, "modcache"),
      GOPATH: join(workDir, "gopath"),
      GOCACHE: join(workDir, "gocache"),
      GOFLAGS: "-modcacherw",
      GOTOOLCHAIN: "local",
    },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal,
  }).output();
  const seconds = (performance.now() - started) / 1000;
  const stdout = new TextDecoder().decode(output.stdout);
  if (!output.success) {
    const errors = [...stdout.matchAll(/"Error": "(.*)"/g)].map((match) => match[1]);
    const stderr = new TextDecoder().decode(output.stderr).trim().split("\n");
    throw new Error(
      `go mod download failed:\n  ${[...errors, ...stderr].slice(-10).join("\n  ")}`,
    );
  }
  return { seconds, tree: downloadedModules(stdout) };
}

/** `go mod download -json` prints one JSON object per module, one after the other. */
function downloadedModules(stdout: string): string[] {
  const modules: string[] = [];
  for (const text of stdout.split(/(?<=^\})\n/m)) {
    if (!text.trim()) continue;
    const module = JSON.parse(text) as { Path: string; Version: string; Sum?: string };
    modules.push(`${module.Path}@${module.Version} ${module.Sum ?? "-"}`);
  }
  return modules.sort();
}

/** The go version, for the report. */
export async function goVersion(): Promise<string> {
  const output = await new Deno.Command("go", { args: ["env", "GOVERSION"] }).output()
    .catch(() => undefined);
  return output?.success ? new TextDecoder().decode(output.stdout).trim() : "unknown";
}

/** The environment minus GO* variables (proxies, private patterns, flags). */
function goFreeEnv(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([name]) => !/^GO/.test(name)),
  );
}
