// A .crate is a gzip-compressed tar whose entries all live under `<name>-<version>/`; cargo
// refuses to unpack anything else. An upload is checked before it is stored: the gzip stream
// must be whole (the decompressor verifies its CRC and length trailer), its unpacked size
// bounded, and its first entry under the directory its name and version imply. A mislabeled or
// broken upload is then a 400 at publish, not a failure in the build of everyone who uses it.
import { ClientError } from "../request_body.ts";

/** crates.io's limit on the unpacked size of a crate. */
const MAX_UNPACKED_BYTES = 512 * 1024 * 1024;
/** Enough of the tar to read its first entry's headers. */
const HEAD_BYTES = 64 * 1024;
const BLOCK = 512;

export async function checkCrateArchive(crate: Uint8Array, name: string, vers: string) {
  const head = await unpackedHead(crate);
  const path = firstEntryPath(head);
  const directory = `${name}-${vers}`;
  if (path === null) throw new ClientError(400, "the .crate file holds no files");
  if (path !== undefined && path !== directory && !path.startsWith(`${directory}/`)) {
    throw new ClientError(
      400,
      `the .crate file is not ${name} ${vers}: its files must be under ${directory}/, ` +
        `found ${JSON.stringify(path.slice(0, 200))}`,
    );
  }
}

/** Decompresses all of it (to verify the stream), keeping only the first HEAD_BYTES. */
async function unpackedHead(crate: Uint8Array): Promise<Uint8Array> {
  const head = new Uint8Array(HEAD_BYTES);
  let total = 0;
  const unpacked = new Blob([crate as BlobPart]).stream()
    .pipeThrough(new DecompressionStream("gzip"));
  const reader = unpacked.getReader();
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      if (total < HEAD_BYTES) head.set(value.subarray(0, HEAD_BYTES - total), total);
      total += value.byteLength;
      if (total > MAX_UNPACKED_BYTES) {
        await reader.cancel().catch(() => {});
        throw new ClientError(400, `the .crate file unpacks to more than 512 MB`);
      }
    }
  } catch (error) {
    if (error instanceof ClientError) throw error;
    throw new ClientError(400, `the .crate file is not valid gzip (${(error as Error).message})`);
  } finally {
    reader.releaseLock();
  }
  return head.subarray(0, Math.min(total, HEAD_BYTES));
}

/**
 * The path of the first file or directory in a tar: null when the archive is empty, undefined
 * when its headers do not fit in `tar` (a huge extended header; then the check is skipped).
 * Understands GNU long names ('L', what cargo writes for long paths) and ustar prefixes.
 */
export function firstEntryPath(tar: Uint8Array): string | null | undefined {
  let offset = 0;
  let longName: string | undefined;
  while (offset + BLOCK <= tar.byteLength) {
    const header = tar.subarray(offset, offset + BLOCK);
    if (header.every((byte) => byte === 0)) return null;
    const size = parseInt(text(header, 124, 12).trim() || "0", 8);
    if (!Number.isFinite(size) || size < 0) {
      throw new ClientError(400, "the .crate file is not a tar archive");
    }
    const type = String.fromCharCode(header[156]);
    const dataStart = offset + BLOCK;
    offset = dataStart + Math.ceil(size / BLOCK) * BLOCK;
    if (type === "L") {
      if (dataStart + size > tar.byteLength) return undefined;
      longName = text(tar, dataStart, size);
    } else if (type !== "x" && type !== "g" && type !== "K") {
      const ustar = text(header, 257, 5) === "ustar";
      const prefix = ustar ? text(header, 345, 155) : "";
      return longName ?? (prefix ? `${prefix}/${text(header, 0, 100)}` : text(header, 0, 100));
    }
  }
  return tar.byteLength < HEAD_BYTES ? null : undefined;
}

/** A NUL-terminated field. */
function text(bytes: Uint8Array, start: number, length: number): string {
  const field = bytes.subarray(start, start + length);
  const end = field.indexOf(0);
  return new TextDecoder().decode(end < 0 ? field : field.subarray(0, end));
}
