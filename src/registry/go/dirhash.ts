// Go's `h1:` hashes, the ones go.sum and the checksum database hold (golang.org/x/mod/sumdb/
// dirhash, Hash1): sha256 over the sorted lines "<sha256 hex of a file>  <its name>\n", in base64.
// A module zip's files are named `<module>@<version>/<path>` as the zip stores them; a go.mod alone
// is the one file `go.mod`. The registry computes them itself, so a file is cached only when its
// hash is the one the checksum database published.
import { createHash } from "node:crypto";
import { sha256Hex } from "../../store/hashing.ts";
import { hashEntry, readCentralDirectory, ZipFormatError, type ZipLimits } from "./zip_reader.ts";

export interface HashedFile {
  name: string;
  /** Hex sha256 of the file's bytes. */
  sha256: string;
}

/** dirhash.Hash1 over files already hashed. Names sort as Go sorts strings: by UTF-8 bytes. */
export function hash1(files: readonly HashedFile[]): string {
  const encoder = new TextEncoder();
  const sorted = files.map((file) => ({ ...file, bytes: encoder.encode(file.name) }))
    .sort((a, b) => compareBytes(a.bytes, b.bytes));
  const summary = createHash("sha256");
  for (const file of sorted) {
    if (file.name.includes("\n")) {
      throw new ZipFormatError("dirhash: file names with newlines are not supported");
    }
    summary.update(`${file.sha256}  ${file.name}\n`);
  }
  return `h1:${summary.digest("base64")}`;
}

/** The h1: hash of a go.mod file, as `<module> <version>/go.mod h1:…` records it. */
export function goModHash(bytes: Uint8Array): string {
  return hash1([{ name: "go.mod", sha256: sha256Hex(bytes) }]);
}

/**
 * The h1: hash of the module zip at `path`, read as a stream within `limits`. Every entry must be
 * a file under `<module>@<version>/` with a plain relative name, each name once (what Go itself
 * extracts); anything else is refused rather than hashed.
 */
export async function moduleZipHash(
  path: string,
  module: string,
  version: string,
  limits: ZipLimits,
): Promise<string> {
  const file = await Deno.open(path, { read: true });
  try {
    const { size } = await file.stat();
    const entries = await readCentralDirectory(file, size, limits);
    const prefix = `${module}@${version}/`;
    const seen = new Set<string>();
    const files: HashedFile[] = [];
    for (const entry of entries) {
      const wrong = entryNameProblem(entry.name, prefix);
      if (wrong) throw new ZipFormatError(wrong);
      if (seen.has(entry.name)) throw new ZipFormatError(`${short(entry.name)} appears twice`);
      seen.add(entry.name);
      const hash = createHash("sha256");
      await hashEntry(file, entry, hash);
      files.push({ name: entry.name, sha256: hash.digest("hex") });
    }
    return hash1(files);
  } finally {
    file.close();
  }
}

/** Why a zip entry's name is not a file of this module version, or undefined. */
export function entryNameProblem(name: string, prefix: string): string | undefined {
  if (!name.startsWith(prefix)) return `${short(name)} is outside ${prefix}`;
  const rest = name.slice(prefix.length);
  // deno-lint-ignore no-control-regex
  if (/[\x00-\x1f\x7f\\]/.test(rest)) {
    return `${short(name)} has a control character or a backslash`;
  }
  if (rest.split("/").some((part) => part === "" || part === "." || part === "..")) {
    return `${short(name)} is not a plain relative file name`;
  }
  return undefined;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const length = Math.min(a.byteLength, b.byteLength);
  for (let i = 0; i < length; i++) {
    if (a[i] !== b[i]) return a[i] - b[i];
  }
  return a.byteLength - b.byteLength;
}

function short(text: string): string {
  return JSON.stringify(text.length > 120 ? `${text.slice(0, 117)}...` : text);
}
