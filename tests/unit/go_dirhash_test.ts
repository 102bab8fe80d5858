// h1: hashes of module zips and go.mod files, checked against what the real go command computes,
// and the zip reader against hostile archives built here.
import assert from "node:assert/strict";
import { join } from "node:path";
import { goModHash, hash1, moduleZipHash } from "../../src/registry/go/dirhash.ts";
import type { ZipLimits } from "../../src/registry/go/zip_reader.ts";
import { buildZip, type ZipEntrySpec } from "../support/go_zip.ts";
import { hasProgram, runProcess } from "../support/process.ts";

const goMissing = !(await hasProgram("go", ["version"]));
if (goMissing) console.warn("skipping the go command's side of the h1 tests: go is not installed");

const LIMITS: ZipLimits = { maxEntries: 1000, maxTotalBytes: 64 * 1024 * 1024 };

/** What `go mod download -json` printed for these versions (Sum, GoModSum). */
const KNOWN = [
  {
    path: "github.com/google/uuid",
    version: "v1.6.0",
    sum: "h1:NIvaJDMOsjHA8n1jAhLSgzrAzy1Hgr+hNrb57e+94F0=",
    goModSum: "h1:TIyPZe4MgqvfeYDBFedMoGGpEw/LqOeaOT+nhxU+yHo=",
  },
  {
    path: "github.com/pkg/errors",
    version: "v0.9.1",
    sum: "h1:FEBLx1zS214owpjy7qsBeixbURkuhQAwrK5UwLGTwt4=",
    goModSum: "h1:bwawxfHBFNV+L2hUp1rHADufV3IMtnDRdf1r5NINEl0=",
  },
];

interface Downloaded {
  Path: string;
  Version: string;
  Zip: string;
  GoMod: string;
  Sum: string;
  GoModSum: string;
  Error?: string;
}

/** The go command itself, with a throwaway GOPATH and module cache. */
async function goModDownload(
  args: string[],
  env: Record<string, string>,
  gopath: string,
): Promise<Downloaded[]> {
  const result = await runProcess("go", ["mod", "download", "-json", ...args], {
    cwd: gopath,
    env: {
      GOPATH: gopath,
      GOMODCACHE: join(gopath, "pkg", "mod"),
      GOFLAGS: "-modcacherw",
      GOTOOLCHAIN: "local",
      GONOSUMDB: "",
      GOPRIVATE: "",
      GOENV: "off",
      ...env,
    },
  });
  assert.equal(result.code, 0, result.stdout + result.stderr);
  // One JSON object per module, concatenated.
  return result.stdout.split(/\n(?=\{)/).map((text) => JSON.parse(text));
}

Deno.test({
  name: "h1: of real modules' zips and go.mod files is what the go command computes",
  ignore: goMissing,
  async fn() {
    const gopath = await Deno.makeTempDir({ prefix: "vm-go-h1-" });
    try {
      const downloaded = await goModDownload(
        KNOWN.map(({ path, version }) => `${path}@${version}`),
        { GOPROXY: "https://proxy.golang.org", GOSUMDB: "sum.golang.org" },
        gopath,
      );
      for (const known of KNOWN) {
        const module = downloaded.find((each) => each.Path === known.path)!;
        assert.ok(module.Zip.startsWith(gopath), module.Zip);
        assert.equal(module.Sum, known.sum);
        assert.equal(module.GoModSum, known.goModSum);
        assert.equal(await moduleZipHash(module.Zip, known.path, known.version, LIMITS), known.sum);
        assert.equal(goModHash(await Deno.readFile(module.GoMod)), known.goModSum);
      }
      // One changed byte in go.mod changes the hash.
      const goMod = await Deno.readFile(downloaded[0].GoMod);
      goMod[0] ^= 1;
      assert.notEqual(goModHash(goMod), KNOWN[0].goModSum);
    } finally {
      await Deno.remove(gopath, { recursive: true });
    }
  },
});

/** A module zip with names that sort differently by UTF-16 and by UTF-8, stored and deflated. */
function syntheticEntries(prefix: string): ZipEntrySpec[] {
  return [
    { name: `${prefix}go.mod`, data: "module example.com/synthetic\n\ngo 1.19\n" },
    { name: `${prefix}b.go`, data: "package synthetic\n\nconst B = 1\n" },
    { name: `${prefix}Z.txt`, data: "upper case sorts first\n", method: 0 },
    { name: `${prefix}docs/é.txt`, data: "é".repeat(5000) },
    // U+FB01 sorts before U+1D49C in UTF-8 (EF.. < F0..), after it in UTF-16 (FB01 > D835).
    { name: `${prefix}docs/\uFB01.txt`, data: "ligature\n" },
    { name: `${prefix}docs/\u{1D49C}.txt`, data: "script A\n" },
    { name: `${prefix}empty.txt`, data: "" },
  ];
}

Deno.test({
  name:
    "h1: of a zip built here (Unicode names, stored and deflated) is what the go command computes",
  ignore: goMissing,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "vm-go-h1-" });
    try {
      const module = "example.com/synthetic";
      const version = "v1.0.0";
      const entries = syntheticEntries(`${module}@${version}/`);
      const zip = await buildZip(entries);
      // A file:// GOPROXY serving only this module, so the go command hashes our zip.
      const versions = join(dir, "proxy", module, "@v");
      await Deno.mkdir(versions, { recursive: true });
      await Deno.writeFile(join(versions, `${version}.zip`), zip);
      await Deno.writeTextFile(join(versions, `${version}.mod`), entries[0].data as string);
      await Deno.writeTextFile(join(versions, `${version}.info`), `{"Version":"${version}"}`);
      await Deno.writeTextFile(join(versions, "list"), `${version}\n`);
      const gopath = join(dir, "gopath");
      await Deno.mkdir(gopath);
      const [downloaded] = await goModDownload(
        [`${module}@${version}`],
        { GOPROXY: `file://${join(dir, "proxy")}`, GOSUMDB: "off" },
        gopath,
      );
      assert.equal(
        await moduleZipHash(join(versions, `${version}.zip`), module, version, LIMITS),
        downloaded.Sum,
      );
      assert.equal(
        goModHash(new TextEncoder().encode(entries[0].data as string)),
        downloaded.GoModSum,
      );
      // Sorting by UTF-16 instead of UTF-8 would give another hash.
      const sha = (text: string) => text.padEnd(64, "0");
      assert.notEqual(
        hash1([{ name: "\uFB01", sha256: sha("a") }, { name: "\u{1D49C}", sha256: sha("b") }]),
        hash1([{ name: "\u{1D49C}", sha256: sha("a") }, { name: "\uFB01", sha256: sha("b") }]),
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

const PREFIX = "example.com/m@v1.0.0/";

/** The reason moduleZipHash refuses the zip (it must refuse it). */
async function refusal(zip: Uint8Array, limits: ZipLimits = LIMITS): Promise<string> {
  const path = await Deno.makeTempFile({ prefix: "vm-go-zip-" });
  try {
    await Deno.writeFile(path, zip);
    const hash = await moduleZipHash(path, "example.com/m", "v1.0.0", limits).catch((e) => e);
    assert.ok(hash instanceof Error, `accepted: ${hash}`);
    return (hash as Error).message;
  } finally {
    await Deno.remove(path);
  }
}

Deno.test("module zips: an honest one hashes; hostile ones are refused with the reason", async () => {
  const honest = await buildZip(
    syntheticEntries(PREFIX).map((entry) => ({
      ...entry,
      name: entry.name,
    })),
  );
  const path = await Deno.makeTempFile();
  try {
    await Deno.writeFile(path, honest);
    assert.match(await moduleZipHash(path, "example.com/m", "v1.0.0", LIMITS), /^h1:/);
  } finally {
    await Deno.remove(path);
  }

  // A bomb that under-declares: 1 KiB declared, 10 MiB of zeros inside.
  assert.match(
    await refusal(
      await buildZip([{
        name: `${PREFIX}bomb`,
        data: new Uint8Array(10 * 1024 * 1024),
        declaredSize: 1024,
      }]),
    ),
    /inflates past its declared 1024 bytes/,
  );
  // A bomb that declares honestly: refused before anything is inflated.
  assert.match(
    await refusal(
      await buildZip([{ name: `${PREFIX}bomb`, data: new Uint8Array(2 * 1024 * 1024) }]),
      { maxEntries: 10, maxTotalBytes: 1024 * 1024 },
    ),
    /inflate to more than the limit of 1048576 bytes/,
  );
  // Overlapping entries: the classic way to make a small zip inflate to terabytes.
  assert.match(
    await refusal(
      await buildZip([{ name: `${PREFIX}a`, data: "x".repeat(1000) }], { overlappingCopies: 3 }),
    ),
    /overlaps another entry/,
  );
  // Too many entries.
  const many = Array.from({ length: 11 }, (_, i) => ({ name: `${PREFIX}f${i}`, data: "x" }));
  assert.match(
    await refusal(await buildZip(many), { maxEntries: 10, maxTotalBytes: 1024 }),
    /11 entries, more than the limit of 10/,
  );
  // Names that reach outside the module, or are not plain relative names.
  for (
    const name of [
      `${PREFIX}../../../etc/passwd`,
      `${PREFIX}a/./b`,
      `${PREFIX}a//b`,
      `${PREFIX}dir/`,
      `${PREFIX}a\\..\\b`,
      "/etc/passwd",
      "example.com/other@v1.0.0/go.mod",
      "example.com/m@v1.0.1/go.mod",
    ]
  ) {
    assert.match(
      await refusal(await buildZip([{ name, data: "x" }])),
      /outside|plain relative|backslash/,
      name,
    );
  }
  // The same name twice.
  assert.match(
    await refusal(
      await buildZip([{ name: `${PREFIX}a`, data: "1" }, { name: `${PREFIX}a`, data: "2" }]),
    ),
    /appears twice/,
  );
  // Truncated: the end record is gone; or the directory claims more entries than it holds.
  assert.match(await refusal(honest.subarray(0, honest.byteLength - 10)), /not a zip/);
  assert.match(await refusal(honest.subarray(0, 100)), /not a zip/);
  assert.match(
    await refusal(await buildZip([{ name: `${PREFIX}a`, data: "x" }], { declaredEntries: 2 })),
    /central directory ends early/,
  );
  // Data that lies about its CRC, or stops short of its declared size.
  assert.match(
    await refusal(await buildZip([{ name: `${PREFIX}a`, data: "hello", crc: 1234 }])),
    /CRC-32/,
  );
  assert.match(
    await refusal(await buildZip([{ name: `${PREFIX}a`, data: "hello", declaredSize: 6 }])),
    /inflates to 5 bytes, not its declared 6/,
  );
  // Not a zip at all.
  assert.match(
    await refusal(new TextEncoder().encode("<html>502 Bad Gateway</html>")),
    /not a zip/,
  );
});
