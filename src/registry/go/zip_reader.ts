// Reads a module zip from disk just far enough to hash its files: the central directory, then each
// entry inflated as a stream (DecompressionStream "deflate-raw"), never the whole archive in
// memory. The zip comes from an upstream, so it is hostile input: the entry count, the central
// directory's size, every entry's inflated size (no more than it declares, and exactly that), the
// total inflated size and the entries' placement (inside the file, before the directory, never
// overlapping: overlapping entries are how small zips inflate to terabytes) are all bounded and
// checked before or while anything is inflated. Zip64, encryption and methods other than store
// and deflate are refused: Go's own module zips use none of them.
import { crc32 } from "node:zlib";

export interface ZipLimits {
  /** Entries in the central directory. */
  maxEntries: number;
  /** Inflated bytes over all entries (declared and actual). */
  maxTotalBytes: number;
}

export interface ZipEntry {
  /** The name as stored (raw bytes decoded as UTF-8: Go hashes those bytes). */
  name: string;
  method: number;
  flags: number;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
  localHeaderOffset: number;
}

/** The archive is not a zip the registry reads, or lies about itself. */
export class ZipFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ZipFormatError";
  }
}

const EOCD_SIGNATURE = 0x06054b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;
const EOCD_LENGTH = 22;
const CENTRAL_HEADER_LENGTH = 46;
const LOCAL_HEADER_LENGTH = 30;
const MAX_COMMENT = 0xffff;
/** Bigger than any real module's directory (names are short), small enough to read at once. */
const MAX_DIRECTORY_BYTES = 64 * 1024 * 1024;
const READ_CHUNK = 64 * 1024;
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The entries of the zip in `file` (of `size` bytes), checked against `limits`. */
export async function readCentralDirectory(
  file: Deno.FsFile,
  size: number,
  limits: ZipLimits,
): Promise<ZipEntry[]> {
  const tailLength = Math.min(size, EOCD_LENGTH + MAX_COMMENT);
  const tail = await readAt(file, size - tailLength, tailLength);
  const eocd = findEndOfDirectory(tail);
  if (eocd < 0) throw new ZipFormatError("no end of central directory record: not a zip");
  const end = new DataView(tail.buffer, tail.byteOffset + eocd, EOCD_LENGTH);
  const disk = end.getUint16(4, true);
  const directoryDisk = end.getUint16(6, true);
  const entriesOnDisk = end.getUint16(8, true);
  const entries = end.getUint16(10, true);
  const directorySize = end.getUint32(12, true);
  const directoryOffset = end.getUint32(16, true);
  if (entries === 0xffff || directorySize === 0xffffffff || directoryOffset === 0xffffffff) {
    throw new ZipFormatError("zip64 archives are not supported");
  }
  if (disk !== 0 || directoryDisk !== 0 || entriesOnDisk !== entries) {
    throw new ZipFormatError("multi-disk archives are not supported");
  }
  if (entries > limits.maxEntries) {
    throw new ZipFormatError(`${entries} entries, more than the limit of ${limits.maxEntries}`);
  }
  const endOffset = size - tailLength + eocd;
  if (directoryOffset + directorySize > endOffset) {
    throw new ZipFormatError("the central directory lies outside the file");
  }
  if (directorySize > MAX_DIRECTORY_BYTES) {
    throw new ZipFormatError(`a central directory of ${directorySize} bytes`);
  }
  const directory = await readAt(file, directoryOffset, directorySize);
  const view = new DataView(directory.buffer, directory.byteOffset, directory.byteLength);
  const result: ZipEntry[] = [];
  let declaredTotal = 0;
  let offset = 0;
  for (let i = 0; i < entries; i++) {
    if (offset + CENTRAL_HEADER_LENGTH > directory.byteLength) {
      throw new ZipFormatError("the central directory ends early");
    }
    if (view.getUint32(offset, true) !== CENTRAL_SIGNATURE) {
      throw new ZipFormatError(`bad central directory header at entry ${i}`);
    }
    const nameLength = view.getUint16(offset + 28, true);
    const extraLength = view.getUint16(offset + 30, true);
    const commentLength = view.getUint16(offset + 32, true);
    const nameStart = offset + CENTRAL_HEADER_LENGTH;
    if (nameStart + nameLength + extraLength + commentLength > directory.byteLength) {
      throw new ZipFormatError("the central directory ends early");
    }
    let name: string;
    try {
      name = utf8.decode(directory.subarray(nameStart, nameStart + nameLength));
    } catch {
      throw new ZipFormatError(`entry ${i} has a name that is not UTF-8`);
    }
    const entry: ZipEntry = {
      name,
      flags: view.getUint16(offset + 8, true),
      method: view.getUint16(offset + 10, true),
      crc32: view.getUint32(offset + 16, true),
      compressedSize: view.getUint32(offset + 20, true),
      uncompressedSize: view.getUint32(offset + 24, true),
      localHeaderOffset: view.getUint32(offset + 42, true),
    };
    if (
      entry.compressedSize === 0xffffffff || entry.uncompressedSize === 0xffffffff ||
      entry.localHeaderOffset === 0xffffffff
    ) {
      throw new ZipFormatError("zip64 entries are not supported");
    }
    if (entry.flags & 1) throw new ZipFormatError(`${name} is encrypted`);
    if (entry.method !== 0 && entry.method !== 8) {
      throw new ZipFormatError(`${name} uses compression method ${entry.method}`);
    }
    if (entry.method === 0 && entry.compressedSize !== entry.uncompressedSize) {
      throw new ZipFormatError(`${name} is stored with two different sizes`);
    }
    declaredTotal += entry.uncompressedSize;
    if (declaredTotal > limits.maxTotalBytes) {
      throw new ZipFormatError(
        `the files inflate to more than the limit of ${limits.maxTotalBytes} bytes`,
      );
    }
    result.push(entry);
    offset = nameStart + nameLength + extraLength + commentLength;
  }
  await checkPlacement(file, result, directoryOffset);
  return result;
}

/**
 * Each entry's local header and data lie before the central directory and after the previous
 * entry's data: no entry shares bytes with another.
 */
async function checkPlacement(
  file: Deno.FsFile,
  entries: ZipEntry[],
  directoryOffset: number,
): Promise<void> {
  const byOffset = [...entries].sort((a, b) => a.localHeaderOffset - b.localHeaderOffset);
  let previousEnd = 0;
  for (const entry of byOffset) {
    if (entry.localHeaderOffset < previousEnd) {
      throw new ZipFormatError(`${entry.name} overlaps another entry`);
    }
    const dataEnd = await dataOffset(file, entry) + entry.compressedSize;
    if (dataEnd > directoryOffset) {
      throw new ZipFormatError(`${entry.name} runs into the central directory`);
    }
    previousEnd = dataEnd;
  }
}

/** Where an entry's compressed bytes start: after its local header, name and extra field. */
async function dataOffset(file: Deno.FsFile, entry: ZipEntry): Promise<number> {
  const header = await readAt(file, entry.localHeaderOffset, LOCAL_HEADER_LENGTH);
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
  if (view.getUint32(0, true) !== LOCAL_SIGNATURE) {
    throw new ZipFormatError(`bad local header for ${entry.name}`);
  }
  return entry.localHeaderOffset + LOCAL_HEADER_LENGTH + view.getUint16(26, true) +
    view.getUint16(28, true);
}

/**
 * Feeds one entry's inflated bytes to `hash`, in chunks. Fails as soon as the entry inflates past
 * its declared size, and when it ends short of it or its CRC-32 does not match.
 */
export async function hashEntry(
  file: Deno.FsFile,
  entry: ZipEntry,
  hash: { update(chunk: Uint8Array): void },
): Promise<void> {
  const start = await dataOffset(file, entry);
  let position = start;
  const end = start + entry.compressedSize;
  const compressed = new ReadableStream<Uint8Array<ArrayBuffer>>({
    async pull(controller) {
      if (position >= end) {
        controller.close();
        return;
      }
      const chunk = await readAt(file, position, Math.min(READ_CHUNK, end - position));
      position += chunk.byteLength;
      controller.enqueue(chunk);
    },
  });
  const inflated = entry.method === 8
    ? compressed.pipeThrough(new DecompressionStream("deflate-raw"))
    : compressed;
  let size = 0;
  let crc = 0;
  const reader = inflated.getReader();
  try {
    while (true) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (error) {
        throw new ZipFormatError(`${entry.name} does not inflate: ${(error as Error).message}`);
      }
      if (chunk.done) break;
      size += chunk.value.byteLength;
      if (size > entry.uncompressedSize) {
        throw new ZipFormatError(
          `${entry.name} inflates past its declared ${entry.uncompressedSize} bytes`,
        );
      }
      crc = crc32(chunk.value, crc);
      hash.update(chunk.value);
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  if (size !== entry.uncompressedSize) {
    throw new ZipFormatError(
      `${entry.name} inflates to ${size} bytes, not its declared ${entry.uncompressedSize}`,
    );
  }
  if ((crc >>> 0) !== entry.crc32) throw new ZipFormatError(`${entry.name} fails its CRC-32`);
}

/** The last end-of-central-directory signature whose comment fits in the tail. */
function findEndOfDirectory(tail: Uint8Array): number {
  const view = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
  for (let i = tail.byteLength - EOCD_LENGTH; i >= 0; i--) {
    if (view.getUint32(i, true) !== EOCD_SIGNATURE) continue;
    const commentLength = view.getUint16(i + 20, true);
    if (i + EOCD_LENGTH + commentLength <= tail.byteLength) return i;
  }
  return -1;
}

async function readAt(
  file: Deno.FsFile,
  position: number,
  length: number,
): Promise<Uint8Array<ArrayBuffer>> {
  const buffer = new Uint8Array(length);
  await file.seek(position, Deno.SeekMode.Start);
  let filled = 0;
  while (filled < length) {
    const n = await file.read(buffer.subarray(filled));
    if (n === null || n === 0) throw new ZipFormatError("the zip is truncated");
    filled += n;
  }
  return buffer;
}
