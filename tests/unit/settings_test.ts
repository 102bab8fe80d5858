// The settings file: paths, parsing and checking every key, and edits that keep comments.
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  configPath,
  describeKey,
  loadSettings,
  parseDuration,
  parseSize,
  resetSettings,
  resolveDataDir,
  setSetting,
  settingArgs,
  SettingsError,
} from "../../src/config/settings.ts";
import { DEFAULT_METADATA_TTL_SECONDS, DEFAULT_PORT } from "../../src/registry/server.ts";
import { DEFAULT_PYPI_INDEX } from "../../src/registry/pypi/handler.ts";
import { descriptorLimit, maxConnectionsFor } from "../../src/registry/listener.ts";

const env = (vars: Record<string, string>) => (name: string) => vars[name];
const HOME = env({ HOME: "/home/u" });

/** A temp dir with a config file path in it; removed afterwards. */
async function withConfig(run: (path: string, dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "vm-settings-" });
  try {
    await run(join(dir, "pkg.yaml"), dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Asserts that `promise` fails with a SettingsError whose message matches `pattern`. */
async function rejectsWith(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (error: Error) => {
    assert.ok(error instanceof SettingsError, `not a SettingsError: ${error}`);
    assert.match(error.message, pattern);
    assert.ok(!error.message.includes("\n"), `not one line: ${error.message}`);
    return true;
  });
}

Deno.test("the config file follows $VM_PKG_CONFIG, then XDG on Linux", () => {
  if (Deno.build.os !== "linux") return;
  assert.equal(configPath(HOME), "/home/u/.config/vm/pkg.yaml");
  assert.equal(configPath(env({ HOME: "/home/u", XDG_CONFIG_HOME: "/xdg" })), "/xdg/vm/pkg.yaml");
  // A relative XDG_CONFIG_HOME is invalid per the spec and ignored.
  assert.equal(
    configPath(env({ HOME: "/home/u", XDG_CONFIG_HOME: "rel" })),
    "/home/u/.config/vm/pkg.yaml",
  );
  assert.equal(
    configPath(env({ HOME: "/home/u", XDG_CONFIG_HOME: "/xdg", VM_PKG_CONFIG: "/etc/vm.yaml" })),
    "/etc/vm.yaml",
  );
});

Deno.test("no file means every default, from the registry's own constants", async () => {
  await withConfig(async (path) => {
    const settings = await loadSettings(path, HOME);
    assert.equal(settings.fileExists, false);
    assert.deepEqual(settings.fromFile, {});
    assert.equal(settings.port, DEFAULT_PORT);
    assert.equal(settings.host, "127.0.0.1");
    assert.equal(settings.upstreams.pypi_upstream, DEFAULT_PYPI_INDEX);
    assert.equal(settings.metadataTtlSeconds, DEFAULT_METADATA_TTL_SECONDS);
    assert.equal(settings.maxCacheSizeBytes, null);
    assert.equal(settings.logRequests, false);
    if (Deno.build.os === "linux") assert.equal(settings.dataDir, "/home/u/.local/share/vm/pkg");
    // VM_PKG_DATA is applied above the file (resolveDataDir), so it is not the default here.
    const withEnv = await loadSettings(path, env({ HOME: "/home/u", VM_PKG_DATA: "/d" }));
    assert.notEqual(withEnv.dataDir, "/d");
  });
});

Deno.test("every key parses its good values and the file's text is kept", async () => {
  await withConfig(async (path) => {
    await Deno.writeTextFile(
      path,
      [
        "port: 4873",
        "host: 0.0.0.0",
        "data_dir: ~/vm-data/",
        "npm_upstream: https://registry.npmmirror.com/",
        "pypi_upstream: http://127.0.0.1:9000/simple//",
        "pypi_files_upstream: https://files.example",
        "cargo_upstream: https://index.example",
        "cargo_files_upstream: https://static.example/crates",
        "metadata_ttl: 5m",
        "max_cache_size: 10GB",
        "log_requests: true",
      ].join("\n"),
    );
    const settings = await loadSettings(path, HOME);
    assert.equal(settings.fileExists, true);
    assert.equal(settings.port, 4873);
    assert.equal(settings.host, "0.0.0.0");
    assert.equal(settings.dataDir, "/home/u/vm-data");
    assert.equal(settings.upstreams.npm_upstream, "https://registry.npmmirror.com");
    assert.equal(settings.upstreams.pypi_upstream, "http://127.0.0.1:9000/simple");
    assert.equal(settings.upstreams.pypi_files_upstream, "https://files.example");
    assert.equal(settings.upstreams.cargo_upstream, "https://index.example");
    assert.equal(settings.upstreams.cargo_files_upstream, "https://static.example/crates");
    assert.equal(settings.metadataTtlSeconds, 300);
    assert.equal(settings.maxCacheSizeBytes, 10 * 1024 ** 3);
    assert.equal(settings.logRequests, true);
    assert.equal(settings.fromFile.metadata_ttl, "5m");
    assert.equal(settings.fromFile.max_cache_size, "10GB");
    assert.equal(Object.keys(settings.fromFile).length, 11);
  });
});

Deno.test("durations and sizes", () => {
  assert.equal(parseDuration("300"), 300);
  assert.equal(parseDuration("0"), 0);
  assert.equal(parseDuration("45s"), 45);
  assert.equal(parseDuration("5m"), 300);
  assert.equal(parseDuration("1h"), 3600);
  assert.equal(parseDuration("1.5h"), 5400);
  assert.equal(parseDuration("1d"), 86400);
  for (const bad of ["", "-1", "5 minutes", "1w", "m", "1e3", "9".repeat(20)]) {
    assert.equal(parseDuration(bad), undefined, bad);
  }
  assert.equal(parseSize("0"), null);
  assert.equal(parseSize("unlimited"), null);
  assert.equal(parseSize("Unlimited"), null);
  assert.equal(parseSize("1048576"), 1048576);
  assert.equal(parseSize("500MB"), 500 * 1024 ** 2);
  assert.equal(parseSize("500 MB"), 500 * 1024 ** 2);
  assert.equal(parseSize("1.5GiB"), 1.5 * 1024 ** 3);
  assert.equal(parseSize("2g"), 2 * 1024 ** 3);
  assert.equal(parseSize("1TB"), 1024 ** 4);
  assert.equal(parseSize("512B"), 512);
  for (const bad of ["", "-1GB", "10 gigabytes", "10PB", "GB", "lots", "9".repeat(20)]) {
    assert.equal(parseSize(bad), undefined, bad);
  }
});

Deno.test("a bad value on the command line is one line naming the key and what is expected", async () => {
  const bad: [string, string, RegExp][] = [
    ["port", "0", /port number from 1 to 65535/],
    ["port", "65536", /port number/],
    ["port", "http", /port number/],
    ["host", "my host", /IP address or host name/],
    ["data_dir", "relative/dir", /absolute path/],
    ["npm_upstream", "ftp://x", /http\(s\) URL/],
    ["pypi_upstream", "not a url", /http\(s\) URL/],
    ["pypi_files_upstream", "files.example", /http\(s\) URL/],
    ["cargo_upstream", "file:///index", /http\(s\) URL/],
    ["cargo_files_upstream", "", /http\(s\) URL/],
    ["metadata_ttl", "-5", /seconds/],
    ["metadata_ttl", "5 minutes", /5m/],
    ["max_cache_size", "10 gigabytes", /10GB/],
    ["log_requests", "yes", /true or false/],
  ];
  await withConfig(async (path) => {
    for (const [key, value, expected] of bad) {
      await rejectsWith(
        setSetting(key, value, path, HOME),
        new RegExp(`^invalid value for ${key}: '${value.replace(/[.*+?()[\]\\/]/g, "\\$&")}'`),
      );
      await rejectsWith(setSetting(key, value, path, HOME), expected);
    }
    // Nothing was written for a rejected value.
    await assert.rejects(Deno.stat(path), Deno.errors.NotFound);
  });
});

Deno.test("unknown keys on the command line suggest the key meant", async () => {
  await withConfig(async (path) => {
    await rejectsWith(
      setSetting("prot", "1", path),
      /^unknown config key 'prot' \(did you mean port\?\)$/,
    );
    await rejectsWith(setSetting("ttl", "1", path), /did you mean metadata_ttl\?/);
    await rejectsWith(setSetting("dataDir", "/x", path), /did you mean data_dir\?/);
    await rejectsWith(setSetting("log-requests", "true", path), /did you mean log_requests\?/);
    await rejectsWith(setSetting("zzz", "1", path), /keys: port, host, data_dir/);
    await rejectsWith(resetSettings("hots", path), /did you mean host\?/);
  });
});

Deno.test("set creates the file with a header, in directories that do not exist yet", async () => {
  await withConfig(async (_, dir) => {
    const path = join(dir, "deep", "er", "pkg.yaml");
    assert.equal(await setSetting("port", "4873", path), "4873");
    const text = await Deno.readTextFile(path);
    assert.match(text, /^# Settings of `vm pkg`.*\n(#.*\n)*\nport: 4873\n$/);
    assert.match(text, /vm pkg config set KEY VALUE/);
    assert.equal((await loadSettings(path)).port, 4873);
    // Typed scalars where they write back the same, the text as typed otherwise.
    await setSetting("metadata_ttl", "300", path);
    await setSetting("max_cache_size", "500MB", path);
    await setSetting("log_requests", "true", path);
    await setSetting("npm_upstream", "https://registry.npmmirror.com///", path);
    const after = await Deno.readTextFile(path);
    assert.match(after, /\nmetadata_ttl: 300\n/);
    assert.match(after, /\nmax_cache_size: 500MB\n/);
    assert.match(after, /\nlog_requests: true\n/);
    assert.match(after, /\nnpm_upstream: https:\/\/registry.npmmirror.com\n/);
    // Atomic writes leave no temp file behind.
    assert.deepEqual([...Deno.readDirSync(join(dir, "deep", "er"))].map((e) => e.name), [
      "pkg.yaml",
    ]);
  });
});

const COMMENTED = `# My registry settings
# (shared with the team)

# loopback only
host: 127.0.0.1
port: 4000 # the team's port
# mirrors are faster here
npm_upstream: https://registry.npmmirror.com
metadata_ttl: 1h

# end of file
`;

Deno.test("set keeps comments and key order; new keys go at the end", async () => {
  await withConfig(async (path) => {
    await Deno.writeTextFile(path, COMMENTED);
    await setSetting("port", "4873", path);
    await setSetting("log_requests", "true", path);
    const text = await Deno.readTextFile(path);
    assert.equal(
      text,
      COMMENTED.replace("port: 4000", "port: 4873").replace(
        "metadata_ttl: 1h\n",
        "metadata_ttl: 1h\nlog_requests: true\n",
      ),
    );
  });
});

Deno.test("reset KEY removes the key and keeps the rest and the comments", async () => {
  await withConfig(async (path) => {
    await Deno.writeTextFile(path, COMMENTED);
    assert.deepEqual(await resetSettings("npm_upstream", path), ["npm_upstream"]);
    assert.deepEqual(await resetSettings("npm_upstream", path), []);
    assert.deepEqual(await resetSettings("log_requests", path), []);
    const text = await Deno.readTextFile(path);
    assert.equal(
      text,
      COMMENTED.replace(
        "# mirrors are faster here\nnpm_upstream: https://registry.npmmirror.com\n",
        "",
      ),
    );
    const settings = await loadSettings(path);
    assert.equal(settings.upstreams.npm_upstream, "https://registry.npmjs.org");
    assert.equal(settings.port, 4000);
    // The first key carries the file's header in yaml's model: the header stays.
    assert.deepEqual(await resetSettings("host", path), ["host"]);
    const withoutHost = await Deno.readTextFile(path);
    assert.match(withoutHost, /^# My registry settings\n# \(shared with the team\)\n/);
    assert.doesNotMatch(withoutHost, /loopback only|host:/);
    assert.match(withoutHost, /port: 4000 # the team's port\n/);
  });
});

Deno.test("reset without a key removes every key, unknown ones too, and keeps the header", async () => {
  await withConfig(async (path) => {
    await Deno.writeTextFile(path, "# header, no blank line after it\nport: 1\nprot: 2\n");
    assert.deepEqual(await resetSettings(undefined, path), ["port", "prot"]);
    assert.equal(await Deno.readTextFile(path), "# header, no blank line after it\n");
    assert.deepEqual((await loadSettings(path)).fromFile, {});

    await Deno.writeTextFile(path, COMMENTED);
    await resetSettings(undefined, path);
    assert.equal(
      await Deno.readTextFile(path),
      "# My registry settings\n# (shared with the team)\n\n# end of file\n",
    );
    // A later set writes below the kept comments.
    await setSetting("port", "5000", path);
    assert.match(await Deno.readTextFile(path), /^# My registry settings\n[^]*\nport: 5000\n/);
  });
});

Deno.test("reset on a missing file creates nothing", async () => {
  await withConfig(async (path) => {
    assert.deepEqual(await resetSettings(undefined, path), []);
    assert.deepEqual(await resetSettings("port", path), []);
    await assert.rejects(Deno.stat(path), Deno.errors.NotFound);
  });
});

Deno.test("problems in the file are one line with the path and the position", async () => {
  await withConfig(async (path) => {
    const escaped = path.replace(/[.]/g, "\\.");
    await Deno.writeTextFile(path, "port: 4000\nhost: [127.0.0.1\n");
    await rejectsWith(
      loadSettings(path),
      new RegExp(`^invalid YAML in ${escaped} at line 3, column 1: `),
    );
    // The same for edits: a file that does not parse is not rewritten.
    await rejectsWith(setSetting("port", "1", path), /^invalid YAML in .* at line 3/);

    await Deno.writeTextFile(path, "port: 4000\n\n# typo below\nprot: 4001\n");
    await rejectsWith(
      loadSettings(path),
      new RegExp(`^unknown key 'prot' in ${escaped} at line 4 \\(did you mean port\\?\\)$`),
    );

    await Deno.writeTextFile(path, "host: ::1\nport: 99999\n");
    await rejectsWith(
      loadSettings(path),
      /^invalid value for port in .* at line 2: '99999' \(expected a port number from 1 to 65535\)$/,
    );
    await Deno.writeTextFile(path, "log_requests: yes\n");
    await rejectsWith(
      loadSettings(path),
      /log_requests .* line 1: 'yes' \(expected true or false\)/,
    );
    await Deno.writeTextFile(path, "metadata_ttl:\n");
    await rejectsWith(loadSettings(path), /metadata_ttl .* line 1: no value/);
    await Deno.writeTextFile(path, "port:\n  - 1\n");
    await rejectsWith(loadSettings(path), /port .* line 1: a list/);
    await Deno.writeTextFile(path, "port: 1\nport: 2\n");
    await rejectsWith(
      loadSettings(path),
      /invalid YAML .* line 2, column 1: Map keys must be unique/,
    );
    await Deno.writeTextFile(path, "- port\n");
    await rejectsWith(loadSettings(path), /should hold `key: value` lines/);
    // Setting the bad key fixes the file.
    await Deno.writeTextFile(path, "# mine\nport: 99999 # oops\n");
    await setSetting("port", "4000", path);
    assert.equal(await Deno.readTextFile(path), "# mine\nport: 4000 # oops\n");
  });
});

Deno.test("an empty file or one with only comments means every default", async () => {
  await withConfig(async (path) => {
    await Deno.writeTextFile(path, "");
    assert.equal((await loadSettings(path)).port, DEFAULT_PORT);
    await Deno.writeTextFile(path, "# nothing yet\n");
    assert.equal((await loadSettings(path)).fileExists, true);
    await setSetting("port", "4001", path);
    assert.equal(await Deno.readTextFile(path), "# nothing yet\n\nport: 4001\n");
  });
});

Deno.test("set writes through a symlinked config file", async () => {
  if (Deno.build.os === "windows") return;
  await withConfig(async (path, dir) => {
    const real = join(dir, "dotfiles-pkg.yaml");
    await Deno.writeTextFile(real, "port: 4000\n");
    await Deno.symlink(real, path);
    await setSetting("host", "0.0.0.0", path);
    assert.ok((await Deno.lstat(path)).isSymlink);
    assert.equal(await Deno.readTextFile(real), "port: 4000\nhost: 0.0.0.0\n");
  });
});

Deno.test("the data dir: --data, then VM_PKG_DATA, then the file, then the default", async () => {
  await withConfig(async (path) => {
    const vars = { HOME: "/home/u", VM_PKG_CONFIG: path };
    if (Deno.build.os === "linux") {
      assert.equal(await resolveDataDir(undefined, env(vars)), "/home/u/.local/share/vm/pkg");
    }
    await Deno.writeTextFile(path, "data_dir: /from/config\n");
    assert.equal(await resolveDataDir(undefined, env(vars)), "/from/config");
    assert.equal(
      await resolveDataDir(undefined, env({ ...vars, VM_PKG_DATA: "/from/env" })),
      "/from/env",
    );
    assert.equal(
      await resolveDataDir("/from/flag", env({ ...vars, VM_PKG_DATA: "/from/env" })),
      "/from/flag",
    );
    // The file is not read when it does not decide, so a broken one does not get in the way.
    await Deno.writeTextFile(path, "data_dir: [\n");
    assert.equal(await resolveDataDir("/from/flag", env(vars)), "/from/flag");
    await rejectsWith(resolveDataDir(undefined, env(vars)), /invalid YAML/);
  });
});

Deno.test("max_document_size and max_file_size: bounds from the file or options, never unlimited", async () => {
  await withConfig(async (path) => {
    const defaults = await loadSettings(path, HOME);
    assert.equal(defaults.maxDocumentSizeBytes, 64 * 1024 ** 2);
    assert.equal(defaults.maxFileSizeBytes, 2 * 1024 ** 3);
    assert.equal(describeKey("max_document_size").default, "64MB");
    assert.equal(describeKey("max_file_size").default, "2GB");

    await Deno.writeTextFile(path, "max_document_size: 100MB\nmax_file_size: 512MB\n");
    const fromFile = await loadSettings(path, HOME, { max_file_size: "1GB" });
    assert.equal(fromFile.maxDocumentSizeBytes, 100 * 1024 ** 2);
    assert.equal(fromFile.maxFileSizeBytes, 1024 ** 3);
    // The background server gets them as arguments its parser reads back.
    const args = settingArgs(fromFile);
    assert.ok(args.includes(`--max-document-size=${100 * 1024 ** 2}`), args.join(" "));
    assert.ok(args.includes(`--max-file-size=${1024 ** 3}`), args.join(" "));

    for (const text of ["unlimited", "0", "-1", "lots"]) {
      await rejectsWith(
        loadSettings(path, HOME, { max_document_size: text }),
        /invalid value for max_document_size: .* \(expected a size such as 64MB or 2GB/,
      );
    }
  });
});

Deno.test("max_connections and the client timeouts: auto or a number, positive durations", async () => {
  await withConfig(async (path) => {
    const defaults = await loadSettings(path, HOME);
    assert.equal(defaults.maxConnections, null);
    assert.equal(describeKey("max_connections").default, "auto");
    assert.equal(defaults.headerTimeoutSeconds, 30);
    assert.equal(defaults.idleTimeoutSeconds, 60);
    assert.equal(defaults.requestTimeoutSeconds, 300);
    // `auto` reaches the background server as the figure for this process's open-file limit:
    // the server's sandbox cannot look it up.
    const auto = settingArgs(defaults).find((arg) => arg.startsWith("--max-connections="));
    assert.equal(auto, `--max-connections=${maxConnectionsFor(descriptorLimit())}`);

    await Deno.writeTextFile(path, "max_connections: 500\nheader_timeout: 10s\nidle_timeout: 2m\n");
    const fromFile = await loadSettings(path, HOME, { request_timeout: "1h" });
    assert.equal(fromFile.maxConnections, 500);
    assert.equal(fromFile.headerTimeoutSeconds, 10);
    assert.equal(fromFile.idleTimeoutSeconds, 120);
    assert.equal(fromFile.requestTimeoutSeconds, 3600);
    const args = settingArgs(fromFile);
    for (const arg of ["--max-connections=500", "--header-timeout=10", "--idle-timeout=120"]) {
      assert.ok(args.includes(arg), args.join(" "));
    }

    for (const text of ["0", "-1", "many", "1.5"]) {
      await rejectsWith(
        loadSettings(path, HOME, { max_connections: text }),
        /invalid value for max_connections: .* \(expected a whole number of connections, or auto/,
      );
    }
    for (const text of ["0", "0s", "soon"]) {
      await rejectsWith(
        loadSettings(path, HOME, { header_timeout: text }),
        /invalid value for header_timeout: .* \(expected a number of seconds above 0/,
      );
    }
  });
});
