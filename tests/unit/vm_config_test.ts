// vm.yaml: every key valid and invalid, errors naming the key and line, refused package specs,
// defaults, the starter file, and finding the file upward.
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  DEFAULT_IMAGE,
  DEFAULT_USER,
  findVmConfig,
  loadVmConfig,
  parseVmConfig,
  starterVmConfig,
  type VmConfig,
  VmConfigError,
} from "../../src/vm/config.ts";
import { withTempDir } from "../support/process.ts";

const PATH = "/projects/app/vm.yaml";
const parse = (text: string) => parseVmConfig(text, PATH);

/** Asserts a one-line VmConfigError matching `pattern`. */
function assertFails(text: string, pattern: RegExp): void {
  assert.throws(() => parse(text), (error: Error) => {
    assert.ok(error instanceof VmConfigError, `not a VmConfigError: ${error}`);
    assert.match(error.message, pattern);
    assert.ok(!error.message.includes("\n"), `not one line: ${error.message}`);
    return true;
  }, `accepted: ${JSON.stringify(text)}`);
}

async function rejectsWith(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (error: Error) => {
    assert.ok(error instanceof VmConfigError, `not a VmConfigError: ${error}`);
    assert.match(error.message, pattern);
    return true;
  });
}

Deno.test("only a name: every other key at its default", () => {
  assert.deepEqual(
    parse("name: app\n"),
    {
      path: PATH,
      name: "app",
      image: DEFAULT_IMAGE,
      workspace: "/projects/app",
      user: DEFAULT_USER,
      ports: [],
      environment: {},
      packageRegistry: false,
      npmPackages: [],
      pipPackages: [],
      cargoPackages: [],
    } satisfies VmConfig,
  );
  assert.equal(DEFAULT_IMAGE, "vm-base:bookworm");
  assert.equal(DEFAULT_USER, "dev");
  // `network` is absent, not undefined, so JSON output and deepEqual stay clean.
  assert.ok(!("network" in parse("name: app\n")));
  // A relative path is made absolute; the text names it as given.
  assert.equal(parseVmConfig("name: a\n", "vm.yaml").path, join(Deno.cwd(), "vm.yaml"));
});

Deno.test("every key set to a valid value", () => {
  const config = parse(`# a comment
name: my-app.v2_x
image: ghcr.io/acme/dev-image:1.2@sha256:abc123
workspace: ../src
user: _alice-1
ports:
  - "3000:3000"
  - "8080"
  - 9000
  - "5353:53/udp"
  - "8443:443/tcp"
  - "53:53/tcp"
  - "53:53/udp"
environment:
  NODE_ENV: development
  VERSION: 1.10
  DEBUG: true
  _EMPTY: ""
  hex: 0x1F
package_registry: true
npm_packages: [typescript, "@types/node@20", is-number@7.0.0, "left-pad@^1.3.0", "x@>=1.2"]
pip_packages: [six, requests==2.32.3, "rich>=13", "uvicorn[standard]~=0.30", "a.b-c_d!=1.0,<2"]
cargo_packages: [serde, ripgrep@14, "cargo-edit@=0.12.3", tokio_util]
network: dev-net
`);
  assert.deepEqual(
    config,
    {
      path: PATH,
      name: "my-app.v2_x",
      image: "ghcr.io/acme/dev-image:1.2@sha256:abc123",
      workspace: "/projects/src",
      user: "_alice-1",
      ports: [
        { host: 3000, container: 3000, protocol: "tcp" },
        { host: 8080, container: 8080, protocol: "tcp" },
        { host: 9000, container: 9000, protocol: "tcp" },
        { host: 5353, container: 53, protocol: "udp" },
        { host: 8443, container: 443, protocol: "tcp" },
        { host: 53, container: 53, protocol: "tcp" },
        { host: 53, container: 53, protocol: "udp" },
      ],
      // Numbers and booleans as written: 1.10 stays "1.10".
      environment: {
        NODE_ENV: "development",
        VERSION: "1.10",
        DEBUG: "true",
        _EMPTY: "",
        hex: "0x1F",
      },
      packageRegistry: true,
      npmPackages: [
        "typescript",
        "@types/node@20",
        "is-number@7.0.0",
        "left-pad@^1.3.0",
        "x@>=1.2",
      ],
      pipPackages: [
        "six",
        "requests==2.32.3",
        "rich>=13",
        "uvicorn[standard]~=0.30",
        "a.b-c_d!=1.0,<2",
      ],
      cargoPackages: ["serde", "ripgrep@14", "cargo-edit@=0.12.3", "tokio_util"],
      network: "dev-net",
    } satisfies VmConfig,
  );
});

Deno.test("absolute workspace, empty lists and mappings, and anchors", () => {
  const config = parse(
    "name: a\nworkspace: /srv/code\nports:\nnpm_packages: []\nenvironment:\n" +
      "pip_packages: [six]\ncargo_packages: []\npackage_registry: false\n",
  );
  assert.equal(config.workspace, "/srv/code");
  assert.deepEqual(config.ports, []);
  assert.deepEqual(config.environment, {});
  assert.deepEqual(config.pipPackages, ["six"]);
  assert.equal(config.packageRegistry, false);
  assert.equal(parse("name: &n app\nimage: *n\n").image, "app");
  assert.deepEqual(parse('name: a\nports: [&p "3000"]\nenvironment: {PORT: *p}\n').environment, {
    PORT: "3000",
  });
  // A number as a name is read as written.
  assert.equal(parse("name: 2048\n").name, "2048");
});

Deno.test("each key's wrong values name the file, line, key and what is expected", () => {
  const cases: [string, RegExp][] = [
    [
      "name: My App\n",
      /^\/projects\/app\/vm\.yaml:1: name: must be lowercase letters.*\(got "My App"\)$/,
    ],
    ["name: -app\n", /:1: name: .*\(got "-app"\)$/],
    [`name: ${"a".repeat(64)}\n`, /:1: name: .*at most 63 long/],
    ["name: [a]\n", /:1: name: .*\(got a list\)$/],
    ["name:\n", /:1: name: .*\(got no value\)$/],
    [
      "name: a\nimage: --privileged\n",
      /:2: image: must be a Docker image .*\(got "--privileged"\)$/,
    ],
    ["name: a\nimage: ubuntu latest\n", /:2: image: .*\(got "ubuntu latest"\)$/],
    ["name: a\nimage: {a: 1}\n", /:2: image: .*\(got a mapping\)$/],
    ["name: a\n\nworkspace: [x]\n", /:3: workspace: must be a directory path \(got a list\)$/],
    ["name: a\nworkspace: ''\n", /:2: workspace: must be a directory path/],
    ["name: a\nworkspace: ~/code\n", /:2: workspace: ~ is not expanded/],
    ["name: a\nuser: root\n", /:2: user: must not be root/],
    ["name: a\nuser: Alice\n", /:2: user: must be a Linux user name .*\(got "Alice"\)$/],
    ["name: a\nuser: 1dev\n", /:2: user: .*\(got "1dev"\)$/],
    [`name: a\nuser: ${"u".repeat(33)}\n`, /:2: user: /],
    ["name: a\nports: 3000\n", /:2: ports: must be a list, e.g. \["3000:3000"\] \(got "3000"\)$/],
    ["name: a\nports: {a: 1}\n", /:2: ports: must be a list, .*\(got a mapping\)$/],
    ["name: a\nenvironment: [A=1]\n", /:2: environment: must be a mapping of NAME: value/],
    ["name: a\nenvironment:\n  1A: x\n", /:3: environment: "1A" is not a variable name/],
    ["name: a\nenvironment:\n  A-B: x\n", /:3: environment: "A-B" is not a variable name/],
    [
      "name: a\nenvironment:\n  A: [1]\n",
      /:3: environment\.A: must be a string, number or boolean \(got a list\)$/,
    ],
    ["name: a\nenvironment:\n  A: {b: 1}\n", /:3: environment\.A: .*\(got a mapping\)$/],
    [
      "name: a\nenvironment:\n  A:\n  B: 1\n",
      /:3: environment\.A: .*\(got no value\); write A: "" for empty$/,
    ],
    [
      "name: a\npackage_registry: yes\n",
      /:2: package_registry: must be true or false \(got "yes"\)$/,
    ],
    ["name: a\npackage_registry: 1\n", /:2: package_registry: must be true or false \(got "1"\)$/],
    ["name: a\npackage_registry: 'true'\n", /:2: package_registry: .*\(got "true"\)$/],
    ["name: a\nnpm_packages: typescript\n", /:2: npm_packages: must be a list, e.g. \[typescript/],
    ["name: a\npip_packages: {six: 1}\n", /:2: pip_packages: must be a list, .*\(got a mapping\)$/],
    [
      "name: a\ncargo_packages:\n  - serde\n  - [x]\n",
      /:4: cargo_packages\[1\]: must be a package spec \(got a list\)$/,
    ],
    ["name: a\nnpm_packages: [x, null]\n", /:2: npm_packages\[1\]: .*\(got no value\)$/],
    [
      "name: a\nnetwork: -d\n",
      /:2: network: must be the name of an existing Docker network \(got "-d"\)$/,
    ],
    ["name: a\nnetwork: a b\n", /:2: network: /],
  ];
  for (const [text, pattern] of cases) assertFails(text, pattern);
});

Deno.test("ports: every accepted form, and wrong ones with their index and line", () => {
  const ports = (...items: string[]) => parse(`name: a\nports: [${items.join(", ")}]\n`).ports;
  assert.deepEqual(ports('"3000:3000"'), [{ host: 3000, container: 3000, protocol: "tcp" }]);
  assert.deepEqual(ports('"8080"'), [{ host: 8080, container: 8080, protocol: "tcp" }]);
  assert.deepEqual(ports("3000"), [{ host: 3000, container: 3000, protocol: "tcp" }]);
  assert.deepEqual(ports('"5353:53/udp"'), [{ host: 5353, container: 53, protocol: "udp" }]);
  assert.deepEqual(ports('"53/udp"'), [{ host: 53, container: 53, protocol: "udp" }]);
  // Unquoted HOST:CONTAINER is a string in YAML 1.2 (no base-60 numbers).
  assert.deepEqual(ports("8000:80"), [{ host: 8000, container: 80, protocol: "tcp" }]);
  assert.deepEqual(ports("1", "65535"), [
    { host: 1, container: 1, protocol: "tcp" },
    { host: 65535, container: 65535, protocol: "tcp" },
  ]);
  assertFails(
    'name: a\nports:\n  - "3000:3000"\n  - "70000"\n',
    new RegExp(
      String.raw`^/projects/app/vm\.yaml:4: ports\[1\]: ` +
        String.raw`must be a port number or HOST:CONTAINER\[/udp\] \(got "70000"\)$`,
    ),
  );
  const bad = [
    "0",
    "70000",
    '"3000:0"',
    '"3000:70000"',
    "-1",
    "3000.5",
    '"a:b"',
    '"127.0.0.1:80:80"',
    '"80:80/sctp"',
    '"80-90"',
    '" 80"',
    '""',
    "[80]",
    "{a: 1}",
    "true",
    "0x50",
  ];
  for (const item of bad) {
    assertFails(`name: a\nports:\n  - 1\n  - ${item}\n`, /:4: ports\[1\]: must be a port number/);
  }
  assertFails(
    'name: a\nports: ["3000:80", "3000:81"]\n',
    /:2: ports\[1\]: host port 3000 is already in ports\[0\]$/,
  );
});

Deno.test("unknown keys name the key and line, with a suggestion for near misses", () => {
  const suggestions: [string, string][] = [
    ["package_registy", "package_registry"],
    ["packageRegistry", "package_registry"],
    ["npm-packages", "npm_packages"],
    ["npmPackages", "npm_packages"],
    ["pip_package", "pip_packages"],
    ["prots", "ports"],
    ["port", "ports"],
    ["env", "environment"],
    ["enviroment", "environment"],
    ["imgae", "image"],
    ["Name", "name"],
    ["netwrok", "network"],
  ];
  for (const [key, meant] of suggestions) {
    assertFails(
      `name: a\n\n${key}: x\n`,
      new RegExp(
        `^/projects/app/vm\\.yaml:3: unknown key "${key}" \\(did you mean ${meant}\\?\\)$`,
      ),
    );
  }
  assertFails(
    "name: a\nvolumes: [x]\n",
    new RegExp(
      String.raw`:2: unknown key "volumes" \(keys: name, image, workspace, user, ports, ` +
        String.raw`environment, package_registry, npm_packages, pip_packages, cargo_packages, ` +
        String.raw`network\)$`,
    ),
  );
  // An unknown key is reported even when an earlier key is fine and a later one is wrong too.
  assertFails("name: a\nfoo: 1\nuser: root\n", /:2: unknown key "foo"/);
  assertFails("name: a\n<<: {b: 1}\n", /:2: unknown key "<<"/);
});

Deno.test("package specs that could inject options, commands or paths are refused", () => {
  const attempts: [string, RegExp][] = [
    ["-e .", /starts with "-", which \w+ would read as an option/],
    ["--index-url=http://evil", /starts with "-"/],
    ["--registry=http://evil", /starts with "-"/],
    ["-rrequirements.txt", /starts with "-"/],
    ["--config", /starts with "-"/],
    ["x; rm -rf /", /contains ";", a shell metacharacter/],
    ["$(curl evil)", /contains "\$"/],
    ["`id`", /contains "`"/],
    ["a|b", /contains "\|"/],
    ["a&&b", /contains "&"/],
    ["a'b", /contains "'"/],
    ['a"b', /contains "\\""/],
    ["a\\\\b", /contains "\\\\"/],
    ["a#b", /contains "#"/],
    ["a b", /contains whitespace/],
    ["a\\tb", /contains whitespace/],
    ["a\\nb", /contains whitespace/],
    ["a\\0b", /contains "\\u0000"/],
    ["../evil", /not allowed/],
    ["/abs/path", /not allowed/],
    ["./local", /not allowed/],
    ["https://evil.example/x.tgz", /not allowed/],
    ["git+https://github.com/a/b", /not allowed/],
    ["file:../x", /not allowed/],
    ["", /not a package spec/],
    ["@", /not a package spec/],
    [".hidden", /not a package spec/],
    ["a@", /not a package spec/],
    ["a@@1", /not a package spec/],
    ["a=1", /not a package spec/],
  ];
  for (const key of ["npm_packages", "pip_packages", "cargo_packages"]) {
    for (const [spec, pattern] of attempts) {
      // Double-quoted YAML, so "\t", "\n" and "\0" above are the characters themselves.
      const text = `name: a\n${key}:\n  - ok\n  - "${spec.replaceAll('"', '\\"')}"\n`;
      assertFails(text, new RegExp(`:4: ${key}\\[1\\]: "[^]*": .*${pattern.source}`));
    }
  }
  const refused: [string, string][] = [
    ["npm_packages", "@scope/a/b"],
    ["npm_packages", "@types/node@1/2"],
    ["npm_packages", "github:user/repo"],
    ["npm_packages", "npm:evil@1"],
    ["npm_packages", "user/repo"],
    ["npm_packages", "a@1 || 2"],
    ["npm_packages", "_private"],
    ["npm_packages", "a[b]"],
    ["pip_packages", "@types/node"],
    ["pip_packages", "requests @ https://evil/r.whl"],
    ["pip_packages", "requests;python_version<'3.8'"],
    ["pip_packages", "requests[socks"],
    ["pip_packages", "requests>=2 ,<3"],
    ["pip_packages", "requests@1"],
    ["pip_packages", "rich>="],
    ["pip_packages", "a-"],
    ["cargo_packages", "1serde"],
    ["cargo_packages", "serde>=1"],
    ["cargo_packages", "@scope/x"],
    ["cargo_packages", "se.rde"],
  ];
  for (const [key, spec] of refused) {
    assertFails(`name: a\n${key}: ["${spec}"]\n`, new RegExp(`:2: ${key}\\[0\\]: `));
  }
  // A scope with one "/" is fine for npm, and nowhere else.
  assert.deepEqual(parse('name: a\nnpm_packages: ["@a/b", "@a/b@1.0.0-rc.1"]\n').npmPackages, [
    "@a/b",
    "@a/b@1.0.0-rc.1",
  ]);
});

Deno.test("YAML syntax errors give line and column; empty files and non-mappings are clear", () => {
  assertFails(
    "name: a\nports: [1,\n",
    /^\/projects\/app\/vm\.yaml:3:1: invalid YAML: Flow sequence in block collection/,
  );
  assertFails(
    'name: a\nimage: "x\n',
    /^\/projects\/app\/vm\.yaml:\d+:\d+: invalid YAML: Missing closing/,
  );
  assertFails("name: a\n  user: b\n", /^\/projects\/app\/vm\.yaml:\d+:\d+: invalid YAML: /);
  assertFails("name: a\nname: b\n", /:2:1: invalid YAML: Map keys must be unique$/);
  assertFails("name: a\n---\nname: b\n", /:2:1: invalid YAML: Source contains multiple documents/);
  for (const empty of ["", "\n\n", "# only a comment\n", "---\n", "~\n"]) {
    assertFails(
      empty,
      /^\/projects\/app\/vm\.yaml: the file is empty; it needs at least "name: <project>"/,
    );
  }
  assertFails(
    "- name: a\n",
    /^\/projects\/app\/vm\.yaml:1: the file must hold key: value lines, not a list$/,
  );
  assertFails("\n\nhello\n", /:3: the file must hold key: value lines, not "hello"$/);
  assertFails(
    "image: x\n",
    /^\/projects\/app\/vm\.yaml: name is required, e.g. "name: myproject"$/,
  );
  // The path in messages is the one given.
  assert.throws(
    () => parseVmConfig("name: A\n", "vm.yaml"),
    (error: Error) => error.message.startsWith("vm.yaml:1: name: "),
  );
});

Deno.test("the starter is valid, documents every key, and quotes names YAML would misread", () => {
  const text = starterVmConfig("my-app");
  const config = parseVmConfig(text, PATH);
  assert.equal(config.name, "my-app");
  assert.equal(config.packageRegistry, true);
  assert.deepEqual([config.npmPackages, config.pipPackages, config.cargoPackages], [[], [], []]);
  assert.equal(config.image, DEFAULT_IMAGE);
  for (
    const key of [
      "name",
      "image",
      "workspace",
      "user",
      "ports",
      "environment",
      "package_registry",
      "npm_packages",
      "pip_packages",
      "cargo_packages",
      "network",
    ]
  ) {
    assert.match(text, new RegExp(`^(# )?${key}:`, "m"), key);
  }
  assert.ok(text.split("\n").every((line) => line.length <= 100));
  // Its commented-out examples are valid too, once uncommented.
  const uncommented = text.replace(/^# (image|workspace|user|network):/gm, "$1:")
    .replace(/^(ports|environment): (\[\]|\{\})\n# \1:\n/gm, "$1:\n")
    .replace(/^# {3}/gm, "   ")
    .replace(/^(\w+_packages): \[\] # (?:.*?)e\.g\. (\[.*\])$/gm, "$1: $2");
  const full = parseVmConfig(uncommented, PATH);
  assert.equal(full.ports.length, 2);
  assert.deepEqual(full.environment, { NODE_ENV: "development", DEBUG: "true" });
  assert.deepEqual(full.npmPackages, ["typescript", "@types/node@20", "is-number@7.0.0"]);
  assert.deepEqual(full.pipPackages, ["six", "requests==2.32.3", "rich>=13"]);
  assert.deepEqual(full.cargoPackages, ["serde", "ripgrep@14"]);
  assert.equal(full.network, "my-network");
  assert.equal(full.user, DEFAULT_USER);
  for (const name of ["null", "true", "123", "1e3", "0x1f", "no", "a"]) {
    assert.equal(parseVmConfig(starterVmConfig(name), PATH).name, name);
  }
  assert.throws(() => starterVmConfig("My App"), VmConfigError);
  assert.throws(() => starterVmConfig(""), /invalid project name ""/);
});

Deno.test("loadVmConfig reads the file and checks the workspace directory", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "vm.yaml");
    await rejectsWith(loadVmConfig(path), /vm\.yaml: no such file \(vm init writes one\)$/);
    await Deno.writeTextFile(path, "name: a\n");
    assert.equal((await loadVmConfig(path)).workspace, dir);
    await Deno.mkdir(join(dir, "src"));
    await Deno.writeTextFile(join(dir, "notes.txt"), "");
    await Deno.writeTextFile(path, "name: a\nworkspace: src\n");
    assert.equal((await loadVmConfig(path)).workspace, join(dir, "src"));
    await Deno.writeTextFile(path, "name: a\n\nworkspace: missing\n");
    await rejectsWith(
      loadVmConfig(path),
      new RegExp(`vm\\.yaml:3: workspace: no such directory: ${dir}/missing$`),
    );
    await Deno.writeTextFile(path, "name: a\nworkspace: notes.txt\n");
    await rejectsWith(loadVmConfig(path), /vm\.yaml:2: workspace: not a directory: .*notes\.txt$/);
    await Deno.writeTextFile(path, "name: a\nuser: root\n");
    await rejectsWith(loadVmConfig(path), /vm\.yaml:2: user: must not be root/);
    await rejectsWith(loadVmConfig(dir), /^cannot read /);
  }, "vm-config-");
});

Deno.test("findVmConfig looks in the directory, then upward", async () => {
  await withTempDir(async (dir) => {
    const deep = join(dir, "a", "b", "c");
    await Deno.mkdir(deep, { recursive: true });
    const outside = await findVmConfig(deep);
    // Nothing in the temp tree (a stray /tmp/vm.yaml above it is not ours to judge).
    assert.ok(outside === undefined || !outside.startsWith(dir), outside);
    // A directory called vm.yaml is not the file.
    await Deno.mkdir(join(dir, "a", "b", "vm.yaml"));
    assert.equal(await findVmConfig(deep), outside);
    await Deno.writeTextFile(join(dir, "a", "vm.yaml"), "name: a\n");
    assert.equal(await findVmConfig(deep), join(dir, "a", "vm.yaml"));
    await Deno.writeTextFile(join(deep, "vm.yaml"), "name: c\n");
    assert.equal(await findVmConfig(deep), join(deep, "vm.yaml"));
  }, "vm-config-");
});

Deno.test("the README's example vm.yaml is valid", async () => {
  const readme = await Deno.readTextFile(new URL("../../README.md", import.meta.url));
  const section = readme.slice(readme.indexOf("### vm.yaml reference"));
  const example = /```yaml\n([^]*?)```/.exec(section)?.[1];
  assert.ok(example, "no yaml example after ### vm.yaml reference");
  const config = parse(example);
  assert.equal(config.packageRegistry, true);
  assert.ok(config.ports.length && config.npmPackages.length && config.network);
});
