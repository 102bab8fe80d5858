// The checksum database's answers, as the module proxy relays them (sum.golang.org itself is not
// reached). A lookup is a record and a signed tree head:
//
//   22152757
//   github.com/google/uuid v1.6.0 h1:NIvaJDMOsjHA8n1jAhLSgzrAzy1Hgr+hNrb57e+94F0=
//   github.com/google/uuid v1.6.0/go.mod h1:TIyPZe4MgqvfeYDBFedMoGGpEw/LqOeaOT+nhxU+yHo=
//
//   go.sum database tree
//   66332798
//   czPocWFmMwQrSENohgEPvFiqA+2i/3lRZhHbxtma2UQ=
//
//   — sum.golang.org Az3grh19zTBO…
//
// The registry checks the tree head's ed25519 signature against sum.golang.org's well-known key
// (golang.org/x/mod/sumdb/note), so an upstream cannot make up hashes under a head the database
// never signed. It does not prove the record is in that tree (a Merkle inclusion proof over
// tiles): the go command does that itself, through this registry, for every lookup it makes.

import { UpstreamDataError } from "../outcomes.ts";

/** sum.golang.org's verifier key, as the go command has it (cmd/go/internal/modfetch/key.go). */
export const SUM_GOLANG_ORG_KEY =
  "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8";

/**
 * An answer of the checksum database that is malformed or not signed by its key: never stored,
 * and the client is told why (502).
 */
export class ChecksumDatabaseError extends UpstreamDataError {
  constructor(message: string) {
    super(message);
    this.name = "ChecksumDatabaseError";
  }
}

export interface NoteVerifier {
  name: string;
  /** The first 4 bytes of sha256(name + "\n" + key), big-endian, as signatures carry it. */
  keyHash: number;
  key: CryptoKey;
}

export interface LookupRecord {
  /** The record's position in the log. */
  id: number;
  /** The record as the answer starts: its id, its lines and the blank line after them. */
  record: string;
  /** The signed tree head the answer came with (any head whose tree holds the record will do). */
  note: string;
  /** The size of that tree. */
  treeSize: number;
  /** `h1:` of the module zip, when the record has it. */
  zipHash?: string;
  /** `h1:` of the go.mod file. */
  modHash?: string;
}

const ED25519 = 1;
const H1 = /^h1:[A-Za-z0-9+/]{43}=$/;
const SIGNATURE_PREFIX = "— ";

/** note.NewVerifier for an ed25519 key `name+hash+base64`. */
export async function noteVerifier(vkey: string): Promise<NoteVerifier> {
  const [name, hashHex, ...rest] = vkey.split("+");
  const encoded = rest.join("+");
  const key = decodeBase64(encoded);
  if (!name || !/^[0-9a-f]{8}$/.test(hashHex) || !key || key.length !== 33 || key[0] !== ED25519) {
    throw new ChecksumDatabaseError(`malformed verifier key ${vkey}`);
  }
  const keyHash = parseInt(hashHex, 16);
  if (await keyHashOf(name, key) !== keyHash) {
    throw new ChecksumDatabaseError(`verifier key hash does not match: ${vkey}`);
  }
  const cryptoKey = await crypto.subtle.importKey("raw", key.slice(1), { name: "Ed25519" }, false, [
    "verify",
  ]);
  return { name, keyHash, key: cryptoKey };
}

/**
 * note.Open for one known verifier: the text of `message` when it carries a valid signature by
 * `verifier`; otherwise a ChecksumDatabaseError (also when a signature by its key is invalid).
 */
export async function openSignedNote(message: string, verifier: NoteVerifier): Promise<string> {
  // deno-lint-ignore no-control-regex
  if (/[\x00-\x09\x0b-\x1f]/.test(message)) throw malformed("a control character");
  const split = message.lastIndexOf("\n\n");
  if (split < 0) throw malformed("no signature block");
  const text = message.slice(0, split + 1);
  const signatures = message.slice(split + 2);
  if (!signatures.endsWith("\n")) throw malformed("an unterminated signature");
  const lines = signatures.slice(0, -1).split("\n");
  if (lines.length > 100) throw malformed("too many signatures");
  let verified = false;
  for (const line of lines) {
    if (!line.startsWith(SIGNATURE_PREFIX)) throw malformed("a line that is not a signature");
    const [name, encoded, extra] = line.slice(SIGNATURE_PREFIX.length).split(" ");
    const signature = encoded === undefined ? undefined : decodeBase64(encoded);
    if (!name || extra !== undefined || !signature || signature.length < 5) {
      throw malformed("a malformed signature");
    }
    const hash = new DataView(signature.buffer, signature.byteOffset).getUint32(0);
    if (name !== verifier.name || hash !== verifier.keyHash) continue;
    const ok = await crypto.subtle.verify(
      "Ed25519",
      verifier.key,
      signature.slice(4),
      new TextEncoder().encode(text),
    );
    if (!ok) throw new ChecksumDatabaseError(`invalid signature by ${verifier.name}`);
    verified = true;
  }
  if (!verified) throw new ChecksumDatabaseError(`the tree head is not signed by ${verifier.name}`);
  return text;
}

/** tlog.ParseTree: the size of a signed tree head's text. */
export function parseTreeSize(text: string): number {
  const lines = text.split("\n");
  if (lines[0] !== "go.sum database tree" || lines.length < 4) throw malformed("a bad tree head");
  const size = Number(lines[1]);
  if (!/^(0|[1-9][0-9]*)$/.test(lines[1]) || !Number.isSafeInteger(size)) {
    throw malformed("a bad tree size");
  }
  if (decodeBase64(lines[2])?.length !== 32) throw malformed("a bad tree hash");
  return size;
}

/** A signed tree head (`/latest`) checked; returns its tree size. */
export async function checkSignedTree(body: Uint8Array, verifier: NoteVerifier): Promise<number> {
  return parseTreeSize(await openSignedNote(decodeUtf8(body), verifier));
}

/**
 * The record of `module@version` in a lookup answer, its tree head signed by `verifier`. Lines for
 * another module or version are refused: the answer was not the one asked for.
 */
export async function parseLookup(
  body: Uint8Array,
  module: string,
  version: string,
  verifier: NoteVerifier,
): Promise<LookupRecord> {
  const text = decodeUtf8(body);
  const firstLine = text.indexOf("\n");
  const idText = text.slice(0, firstLine);
  if (firstLine < 0 || !/^(0|[1-9][0-9]*)$/.test(idText)) throw malformed("no record id");
  const id = Number(idText);
  const recordEnd = text.indexOf("\n\n", firstLine + 1);
  if (recordEnd < 0) throw malformed("no end of record");
  const recordLines = text.slice(firstLine + 1, recordEnd).split("\n");
  const note = text.slice(recordEnd + 2);
  const treeSize = parseTreeSize(await openSignedNote(note, verifier));
  if (!Number.isSafeInteger(id) || id >= treeSize) {
    throw malformed(`record ${idText} outside the signed tree of ${treeSize}`);
  }
  const record: LookupRecord = { id, record: text.slice(0, recordEnd + 2), note, treeSize };
  for (const line of recordLines) {
    const [path, lineVersion, hash, extra] = line.split(" ");
    if (path !== module || extra !== undefined || !hash || !H1.test(hash)) {
      throw malformed(
        `a record line that is not ${module}'s: ${JSON.stringify(line.slice(0, 200))}`,
      );
    }
    if (lineVersion === version) record.zipHash = hash;
    else if (lineVersion === `${version}/go.mod`) record.modHash = hash;
    else throw malformed(`a record of another version: ${lineVersion.slice(0, 200)}`);
  }
  return record;
}

async function keyHashOf(name: string, key: Uint8Array): Promise<number> {
  const input = new Uint8Array([...new TextEncoder().encode(`${name}\n`), ...key]);
  const digest = await crypto.subtle.digest("SHA-256", input);
  return new DataView(digest).getUint32(0);
}

function decodeBase64(text: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) return undefined;
  try {
    return Uint8Array.from(atob(text), (char) => char.charCodeAt(0));
  } catch {
    return undefined;
  }
}

function decodeUtf8(body: Uint8Array): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(body);
  } catch {
    throw malformed("bytes that are not UTF-8");
  }
}

function malformed(what: string): ChecksumDatabaseError {
  return new ChecksumDatabaseError(`malformed checksum database answer: ${what}`);
}
