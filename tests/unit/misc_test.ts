import assert from "node:assert/strict";
import { defaultDataDir } from "../../src/store/data_dir.ts";
import { formatBytes, formatDuration, formatRatio } from "../../src/cli/format.ts";

Deno.test("the data dir follows XDG on Linux and can be overridden", () => {
  if (Deno.build.os !== "linux") return;
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  assert.equal(defaultDataDir(env({ HOME: "/home/u" })), "/home/u/.local/share/vm/pkg");
  assert.equal(
    defaultDataDir(env({ HOME: "/home/u", XDG_DATA_HOME: "/xdg" })),
    "/xdg/vm/pkg",
  );
  // A relative XDG_DATA_HOME is invalid per the spec and ignored.
  assert.equal(
    defaultDataDir(env({ HOME: "/home/u", XDG_DATA_HOME: "rel" })),
    "/home/u/.local/share/vm/pkg",
  );
  assert.equal(defaultDataDir(env({ HOME: "/home/u", VM_PKG_DATA: "/d" })), "/d");
});

Deno.test("human formats", () => {
  assert.equal(formatBytes(512), "512 B");
  assert.equal(formatBytes(1536), "1.5 KB");
  assert.equal(formatBytes(5 * 1024 ** 3), "5.0 GB");
  assert.equal(formatDuration(59), "59s");
  assert.equal(formatDuration(3661), "1h 1m");
  assert.equal(formatRatio(0, 0), "–");
  assert.equal(formatRatio(98, 2), "98.0%");
});
