import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { parseIntegrity, sha256Hex, StreamingDigests } from "../../src/store/hashing.ts";

Deno.test("streaming digests equal one-shot digests", () => {
  const data = new TextEncoder().encode("hello streaming world");
  const digests = new StreamingDigests(["sha256", "sha512", "sha1"]);
  digests.update(data.subarray(0, 5));
  digests.update(data.subarray(5));
  const hex = digests.digestHex();
  assert.equal(hex.sha256, sha256Hex(data));
  assert.equal(hex.sha512, createHash("sha512").update(data).digest("hex"));
  assert.equal(hex.sha1, createHash("sha1").update(data).digest("hex"));
  assert.equal(digests.size, data.length);
});

Deno.test("SRI integrity picks the strongest known algorithm", () => {
  const data = new TextEncoder().encode("x");
  const sha512 = createHash("sha512").update(data).digest("base64");
  const sha1 = createHash("sha1").update(data).digest("base64");
  assert.deepEqual(parseIntegrity(`sha1-${sha1} sha512-${sha512}`), {
    algorithm: "sha512",
    hex: createHash("sha512").update(data).digest("hex"),
  });
  assert.equal(parseIntegrity("md5-abc"), undefined);
  assert.equal(parseIntegrity("sha512-!!!not base64"), undefined);
});
