// Checksum database answers: a real lookup and tree head from sum.golang.org (as the module proxy
// relayed them), their signatures checked offline with the database's real key, and forgeries.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  checkSignedTree,
  ChecksumDatabaseError,
  noteVerifier,
  openSignedNote,
  parseLookup,
  SUM_GOLANG_ORG_KEY,
} from "../../src/registry/go/sumdb.ts";
import { UUID_LOOKUP } from "../support/go_stand_in.ts";

/** proxy.golang.org/sumdb/sum.golang.org/latest, one day. */
const LATEST = "go.sum database tree\n72525630\nlCeWXl//f2IAQIyqY7xCLe3ExAMUBjN57RXnyKOhjr0=\n" +
  "\n" +
  "\u2014 sum.golang.org Az3grrPcY4sCw2jcC2FKd0xANejIToEqtTYNak0SAO1iN05rpUvxHXsZG7dHqMyImg74tVfBxOUEBrO0/1SCFLcGLg8=\n";

const bytes = (text: string) => new TextEncoder().encode(text);

Deno.test("a real lookup: its tree head is signed by sum.golang.org, its record gives both hashes", async () => {
  const verifier = await noteVerifier(SUM_GOLANG_ORG_KEY);
  assert.deepEqual(
    await parseLookup(bytes(UUID_LOOKUP), "github.com/google/uuid", "v1.6.0", verifier),
    {
      id: 22152757,
      record: UUID_LOOKUP.slice(0, UUID_LOOKUP.indexOf("\n\n") + 2),
      note: UUID_LOOKUP.slice(UUID_LOOKUP.indexOf("\n\n") + 2),
      treeSize: 66332798,
      zipHash: "h1:NIvaJDMOsjHA8n1jAhLSgzrAzy1Hgr+hNrb57e+94F0=",
      modHash: "h1:TIyPZe4MgqvfeYDBFedMoGGpEw/LqOeaOT+nhxU+yHo=",
    },
  );
  assert.equal(await checkSignedTree(bytes(LATEST), verifier), 72525630);
});

Deno.test("forged or mismatched lookups are refused", async () => {
  const verifier = await noteVerifier(SUM_GOLANG_ORG_KEY);
  const refused = async (body: string, module = "github.com/google/uuid", version = "v1.6.0") => {
    const error = await parseLookup(bytes(body), module, version, verifier).catch((e) => e);
    assert.ok(error instanceof ChecksumDatabaseError, `accepted: ${JSON.stringify(error)}`);
    return error.message;
  };
  // Another tree size under the same signature.
  assert.match(await refused(UUID_LOOKUP.replace("66332798", "66332799")), /invalid signature/);
  // Not signed at all, or by someone else only.
  assert.match(await refused(UUID_LOOKUP.replace(/\n\n\u2014.*\n$/, "\n")), /signature/);
  assert.match(
    await refused(UUID_LOOKUP.replace("\u2014 sum.golang.org", "\u2014 sum.example.com")),
    /not signed by sum.golang.org/,
  );
  // The record of another module or version than the one asked for.
  assert.match(
    await refused(UUID_LOOKUP, "github.com/google/uuid2"),
    /not github.com\/google\/uuid2/,
  );
  assert.match(await refused(UUID_LOOKUP, "github.com/google/uuid", "v1.5.0"), /another version/);
  // A record id the signed tree cannot hold; a broken hash; no record id; HTML.
  assert.match(
    await refused(UUID_LOOKUP.replace("22152757", "99999999")),
    /outside the signed tree/,
  );
  assert.match(await refused(UUID_LOOKUP.replace("h1:NIvaJ", "h1:NIva")), /record line/);
  assert.match(await refused(UUID_LOOKUP.replace("22152757\n", "")), /record id/);
  assert.match(await refused("<html><body>502</body></html>"), /record id/);
  // A control character anywhere in the note.
  assert.match(
    await refused(UUID_LOOKUP.replace("go.sum database tree", "go.sum\tdatabase tree")),
    /control/,
  );
});

Deno.test("a note signed by a key of our own: accepted with that key, refused with the real one", async () => {
  const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const publicKey = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
  const keyBytes = new Uint8Array([1, ...publicKey]);
  const name = "sum.golang.org";
  const hash = createHash("sha256").update(`${name}\n`).update(keyBytes).digest().subarray(0, 4);
  const vkey = `${name}+${Buffer.from(hash).toString("hex")}+${
    Buffer.from(keyBytes).toString("base64")
  }`;
  const text = "go.sum database tree\n5\nczPocWFmMwQrSENohgEPvFiqA+2i/3lRZhHbxtma2UQ=\n";
  const signature = new Uint8Array(
    await crypto.subtle.sign("Ed25519", pair.privateKey, bytes(text)),
  );
  const note = `${text}\n\u2014 ${name} ${
    Buffer.from([...hash, ...signature]).toString("base64")
  }\n`;

  assert.equal(await openSignedNote(note, await noteVerifier(vkey)), text);
  const real = await noteVerifier(SUM_GOLANG_ORG_KEY);
  await assert.rejects(openSignedNote(note, real), /not signed by sum.golang.org/);
  // The key hash in a verifier key must be the key's.
  await assert.rejects(noteVerifier(vkey.replace(/\+[0-9a-f]{8}\+/, "+00000000+")), /hash/);
});
