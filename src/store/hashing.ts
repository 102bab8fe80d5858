// Digests computed while bytes stream past, because crypto.subtle.digest needs the whole buffer.
import { createHash, type Hash } from "node:crypto";

export type DigestAlgorithm = "sha1" | "sha256" | "sha512";

export class StreamingDigests {
  readonly #hashes: Map<DigestAlgorithm, Hash>;
  #size = 0;

  constructor(algorithms: Iterable<DigestAlgorithm>) {
    this.#hashes = new Map([...new Set(algorithms)].map((a) => [a, createHash(a)]));
  }

  update(chunk: Uint8Array): void {
    this.#size += chunk.byteLength;
    for (const hash of this.#hashes.values()) hash.update(chunk);
  }

  get size(): number {
    return this.#size;
  }

  /** Finishes every digest; returns hex strings keyed by algorithm. */
  digestHex(): Record<DigestAlgorithm, string> {
    const out = {} as Record<DigestAlgorithm, string>;
    for (const [alg, hash] of this.#hashes) out[alg] = hash.digest("hex");
    return out;
  }
}

export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/**
 * An expected digest, as registries publish them: npm's SRI `integrity` (sha512-base64),
 * npm's `shasum` (sha1 hex), PyPI's and cargo's sha256 hex.
 */
export interface ExpectedDigest {
  algorithm: DigestAlgorithm;
  hex: string;
}

/** Picks the strongest digest out of an SRI string such as `sha512-… sha1-…`. */
export function parseIntegrity(sri: string): ExpectedDigest | undefined {
  const rank: Record<string, number> = { sha512: 3, sha256: 2, sha1: 1 };
  let best: ExpectedDigest | undefined;
  for (const token of sri.trim().split(/\s+/)) {
    const dash = token.indexOf("-");
    if (dash <= 0) continue;
    const algorithm = token.slice(0, dash);
    if (!(algorithm in rank)) continue;
    const base64 = token.slice(dash + 1).split("?")[0];
    let hex: string;
    try {
      hex = Array.from(atob(base64), (c) => c.charCodeAt(0).toString(16).padStart(2, "0")).join(
        "",
      );
    } catch {
      continue;
    }
    if (!best || rank[algorithm] > rank[best.algorithm]) {
      best = { algorithm: algorithm as DigestAlgorithm, hex };
    }
  }
  return best;
}
