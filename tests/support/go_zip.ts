// Builds zip archives in tests, honest or hostile: module zips for a stand-in Go proxy, and zips
// that lie about sizes, overlap, or carry names a module zip must not have.
import { crc32 } from "node:zlib";
import { concatBytes } from "../../src/host/bytes.ts";

export interface ZipEntrySpec {
  name: string;
  data: Uint8Array | string;
  /** 8 (deflate, the default) or 0 (stored). */
  method?: 0 | 8;
  /** The uncompressed size to declare instead of the real one (a bomb under-declares it). */
  declaredSize?: number;
  /** The CRC-32 to declare instead of the real one. */
  crc?: number;
}

export interface ZipOptions {
  /** Central-directory entries that point at the first entry's local header again. */
  overlappingCopies?: number;
  /** The entry count the end record declares instead of the real one. */
  declaredEntries?: number;
}

export async function buildZip(
  entries: readonly ZipEntrySpec[],
  options: ZipOptions = {},
): Promise<Uint8Array> {
  const encoder = new TextEncoder();
  const locals: Uint8Array[] = [];
  const centrals: Uint8Array[] = [];
  let offset = 0;
  for (const entry of entries) {
    const data = typeof entry.data === "string" ? encoder.encode(entry.data) : entry.data;
    const method = entry.method ?? 8;
    const compressed = method === 8 ? await deflateRaw(data) : data;
    const name = encoder.encode(entry.name);
    const fields = {
      method,
      crc: entry.crc ?? crc32(data),
      compressedSize: compressed.byteLength,
      size: entry.declaredSize ?? data.byteLength,
      name,
    };
    const local = localHeader(fields);
    centrals.push(centralHeader(fields, offset));
    locals.push(local, compressed);
    offset += local.byteLength + compressed.byteLength;
    if (centrals.length === 1) {
      for (let i = 0; i < (options.overlappingCopies ?? 0); i++) {
        centrals.push(centralHeader({ ...fields, name: encoder.encode(`${entry.name}.${i}`) }, 0));
      }
    }
  }
  const directory = concatBytes(centrals);
  const end = new Uint8Array(22);
  const view = new DataView(end.buffer);
  view.setUint32(0, 0x06054b50, true);
  view.setUint16(8, options.declaredEntries ?? centrals.length, true);
  view.setUint16(10, options.declaredEntries ?? centrals.length, true);
  view.setUint32(12, directory.byteLength, true);
  view.setUint32(16, offset, true);
  return concatBytes([...locals, directory, end]);
}

interface HeaderFields {
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  name: Uint8Array;
}

function localHeader(fields: HeaderFields): Uint8Array {
  const header = new Uint8Array(30 + fields.name.byteLength);
  const view = new DataView(header.buffer);
  view.setUint32(0, 0x04034b50, true);
  view.setUint16(4, 20, true);
  view.setUint16(6, 0x0800, true); // UTF-8 names
  view.setUint16(8, fields.method, true);
  view.setUint32(14, fields.crc, true);
  view.setUint32(18, fields.compressedSize, true);
  view.setUint32(22, fields.size, true);
  view.setUint16(26, fields.name.byteLength, true);
  header.set(fields.name, 30);
  return header;
}

function centralHeader(fields: HeaderFields, localOffset: number): Uint8Array {
  const header = new Uint8Array(46 + fields.name.byteLength);
  const view = new DataView(header.buffer);
  view.setUint32(0, 0x02014b50, true);
  view.setUint16(4, 20, true);
  view.setUint16(6, 20, true);
  view.setUint16(8, 0x0800, true);
  view.setUint16(10, fields.method, true);
  view.setUint32(16, fields.crc, true);
  view.setUint32(20, fields.compressedSize, true);
  view.setUint32(24, fields.size, true);
  view.setUint16(28, fields.name.byteLength, true);
  view.setUint32(42, localOffset, true);
  header.set(fields.name, 46);
  return header;
}

async function deflateRaw(data: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([data as BlobPart]).stream().pipeThrough(
    new CompressionStream("deflate-raw"),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}
