// The `/setup.sh` script's text: the registry address it takes from a Host header (only a plain
// host[:port]; anything else falls back to the server's own URL), that it is POSIX sh (dash -n,
// sh -n, checkbashisms when installed), and what it does to a home directory when run by dash:
// writes the ecosystems' user files and the wrappers, keeps the user's own files aside, changes
// nothing on a second run, and --undo puts the home back byte for byte.
import assert from "node:assert/strict";
import { join } from "node:path";
import { setupBaseUrl, setupScript } from "../../src/registry/setup_script.ts";
import { ECOSYSTEMS } from "../../src/registry/ecosystems.ts";
import { registryAddress } from "../../src/registry/ecosystem.ts";
import { WRAPPED_COMMANDS } from "../../src/registry/client_wrapper_script.ts";
import { hasProgram, runProcess, withTempDir } from "../support/process.ts";

const OWN_URL = "http://127.0.0.1:3080";

Deno.test("setupBaseUrl takes a plain host name, IPv4 or [IPv6] address with an optional port", () => {
  const cases: [string, string][] = [
    ["team-cache:3080", "http://team-cache:3080"],
    ["Team-Cache.example.COM:3080", "http://team-cache.example.com:3080"],
    ["host.docker.internal:41234", "http://host.docker.internal:41234"],
    ["10.0.0.5:3080", "http://10.0.0.5:3080"],
    ["[::1]:3080", "http://[::1]:3080"],
    ["[fd00::5]:3080", "http://[fd00::5]:3080"],
    ["registry.internal", "http://registry.internal"],
    ["registry:80", "http://registry"],
  ];
  for (const [host, url] of cases) assert.equal(setupBaseUrl(host, OWN_URL), url, host);
});

Deno.test("setupBaseUrl gives the server's own URL for a missing or hostile Host header", () => {
  const hostile = [
    null,
    "",
    "evil$(id)",
    "evil$(id):3080",
    "`id`:3080",
    "a;b",
    "a;b:3080",
    "a\nb",
    "a:3080\nrm -rf ~",
    "a b:3080",
    "a'b:3080",
    'a"b:3080',
    "a|b",
    "a&b",
    "a>b",
    "$HOME:3080",
    "${IFS}:3080",
    "user@host:3080",
    "host/path:3080",
    "host:3080/x",
    "host:0",
    "host:99999",
    "host:80:80",
    "host:",
    "-evil:3080",
    "evil-:3080",
    "a..b:3080",
    "host.:3080",
    "[::1]x:3080",
    "[::1;id]:3080",
    "[]:3080",
    `${"a".repeat(64)}.example:3080`,
    `${"a.".repeat(200)}a`,
    "höst:3080",
  ];
  for (const host of hostile) assert.equal(setupBaseUrl(host, OWN_URL), OWN_URL, String(host));
});

Deno.test("the script is POSIX sh: dash -n, sh -n and (when installed) checkbashisms pass", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "setup.sh");
    await Deno.writeTextFile(path, setupScript("http://team-cache:3080"));
    for (const shell of ["dash", "sh"]) {
      const result = await runProcess(shell, ["-n", path]);
      assert.equal(result.code, 0, `${shell} -n: ${result.stderr}`);
    }
    if (await hasProgram("checkbashisms", ["--version"])) {
      const result = await runProcess("checkbashisms", ["--posix", path]);
      assert.equal(result.code, 0, result.stdout + result.stderr);
    } else {
      console.log("setup.sh: checkbashisms is not installed (dash -n and sh -n passed)");
    }
  });
});

Deno.test("the script names the registry it was built for and every ecosystem's user files", () => {
  const script = setupScript("http://team-cache:3080");
  assert.match(script, /^#!\/bin\/sh\n/);
  assert.match(script, /^set -eu$/m);
  assert.match(script, /^registry='http:\/\/team-cache:3080'$/m);
  const files = ECOSYSTEMS.flatMap((each) =>
    Object.keys(each.clients.userFiles?.(registryAddress("http://team-cache:3080")) ?? {})
  );
  assert.ok(files.length >= 5, files.join(" "));
  for (const path of files) assert.ok(script.includes(`put '${path}' <<`), path);
  assert.ok(script.includes(WRAPPED_COMMANDS.join(" ")));
});

/** Every path under `dir` with its bytes (directories as "dir"; symlinks as their target). */
async function snapshot(dir: string, prefix = ""): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  for await (const entry of Deno.readDir(join(dir, prefix))) {
    const path = prefix ? `${prefix}/${entry.name}` : entry.name;
    const full = join(dir, path);
    if (entry.isSymlink) found.set(path, `-> ${await Deno.readLink(full)}`);
    else if (entry.isDirectory) {
      found.set(path, "dir");
      for (const [inner, content] of await snapshot(dir, path)) found.set(inner, content);
    } else {
      const info = await Deno.stat(full);
      found.set(path, `${(info.mode ?? 0) & 0o777} ${await Deno.readTextFile(full)}`);
    }
  }
  return found;
}

async function runSetup(home: string, script: string, args: string[] = []) {
  const result = await runProcess("dash", [
    "-c",
    'printf "%s" "$SCRIPT" | dash -s -- "$@"',
    "x",
    ...args,
  ], {
    env: { HOME: home, SCRIPT: script, PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" },
    clearEnv: true,
  });
  assert.equal(result.code, 0, result.stderr);
  return result.stdout.trim().split("\n");
}

Deno.test("run by dash: writes the files once, keeps the user's aside, and --undo restores the home exactly", async () => {
  await withTempDir(async (home) => {
    const script = setupScript("http://team-cache:3080");
    // The user's own files: an .npmrc without a final newline, a ~/.profile, an empty config dir.
    await Deno.writeTextFile(join(home, ".npmrc"), "//example.org/:_authToken=secret");
    await Deno.chmod(join(home, ".npmrc"), 0o600);
    await Deno.writeTextFile(join(home, ".profile"), "export EDITOR=vi\n");
    await Deno.mkdir(join(home, ".config"));
    const before = await snapshot(home);

    const first = await runSetup(home, script);
    assert.ok(first.includes("setup.sh: wrote ~/.npmrc"), first.join("\n"));
    assert.ok(first.some((line) => line.includes("moved your ~/.npmrc")), first.join("\n"));
    assert.ok(first.includes("setup.sh: wrote ~/.config/pip/pip.conf"));
    assert.ok(first.includes("setup.sh: wrote ~/.cargo/config.toml"));
    assert.ok(first.some((line) => line.startsWith("setup.sh: wrote ~/.local/lib/vm/bin")));
    assert.match(
      await Deno.readTextFile(join(home, ".npmrc")),
      /registry=http:\/\/team-cache:3080\/npm\//,
    );
    assert.equal(
      await Deno.readTextFile(join(home, ".local/lib/vm/setup-backup/.npmrc")),
      "//example.org/:_authToken=secret",
    );
    const profile = await Deno.readTextFile(join(home, ".profile"));
    assert.ok(profile.startsWith("export EDITOR=vi\n# >>> vm pkg setup.sh"), profile);
    assert.equal(await Deno.readLink(join(home, ".local/lib/vm/bin/npm")), "../route");
    const written = await snapshot(home);

    // A second run changes nothing and says so, file by file.
    const second = await runSetup(home, script);
    const changed = second.filter((line) => !/^setup\.sh: unchanged |serves npm/.test(line));
    assert.deepEqual(changed, []);
    assert.deepEqual(await snapshot(home), written);

    const undone = await runSetup(home, script, ["--undo"]);
    assert.ok(undone.includes("setup.sh: restored your ~/.npmrc"), undone.join("\n"));
    assert.ok(undone.includes("setup.sh: removed ~/.config/pip/pip.conf"));
    assert.deepEqual(await snapshot(home), before);
    assert.deepEqual(await runSetup(home, script, ["--undo"]), ["setup.sh: nothing to take back"]);
  });
});

Deno.test("run by dash: a file the user changed after set-up is kept by --undo", async () => {
  await withTempDir(async (home) => {
    const script = setupScript("http://team-cache:3080");
    await runSetup(home, script);
    await Deno.writeTextFile(join(home, ".config/pip/pip.conf"), "[global]\nindex-url = mine\n");
    const undone = await runSetup(home, script, ["--undo"]);
    assert.ok(!undone.some((line) => line.includes("pip.conf")), undone.join("\n"));
    assert.equal(
      await Deno.readTextFile(join(home, ".config/pip/pip.conf")),
      "[global]\nindex-url = mine\n",
    );
    assert.deepEqual([...(await snapshot(home)).keys()].sort(), [
      ".config",
      ".config/pip",
      ".config/pip/pip.conf",
    ]);
  });
});

Deno.test("run by dash: an unknown argument is refused", async () => {
  await withTempDir(async (home) => {
    const result = await runProcess("dash", ["-c", setupScript(OWN_URL), "setup.sh", "--bogus"], {
      env: { HOME: home },
    });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /unknown argument: --bogus/);
    assert.deepEqual([...(await snapshot(home)).keys()], []);
  });
});

Deno.test("run by dash: a ~/.profile whose last line has no newline comes back without one", async () => {
  await withTempDir(async (home) => {
    const script = setupScript("http://team-cache:3080");
    await Deno.writeTextFile(join(home, ".profile"), "export EDITOR=vi\n# mine");
    await runSetup(home, script);
    const profile = await Deno.readTextFile(join(home, ".profile"));
    assert.ok(profile.startsWith("export EDITOR=vi\n# mine\n# >>> vm pkg setup.sh"), profile);
    await runSetup(home, script, ["--undo"]);
    assert.equal(await Deno.readTextFile(join(home, ".profile")), "export EDITOR=vi\n# mine");
  });
});
