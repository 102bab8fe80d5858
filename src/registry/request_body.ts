// Reading upload bodies with a hard size limit, and the error type publish handlers throw for
// bad input: a clear 4xx, never a crash or a stored file.
import { concatBytes } from "../host/bytes.ts";

/** Uploads larger than this are refused with 413 (crates.io allows 10 MB, PyPI 100 MB). */
export const MAX_UPLOAD_BYTES = 128 * 1024 * 1024;

/** A client mistake: becomes an error response with this status and message. */
export class ClientError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = "ClientError";
  }
}

/**
 * The whole request body, refused with 413 as soon as it passes `limit` (a chunked body without
 * Content-Length is counted as it arrives, so a lying client cannot push memory past the limit).
 */
export async function readLimitedBody(
  request: Request,
  limit = MAX_UPLOAD_BYTES,
): Promise<Uint8Array<ArrayBuffer>> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > limit) {
    await request.body?.cancel().catch(() => {});
    throw new ClientError(413, `upload of ${declared} bytes is over the ${limitText(limit)} limit`);
  }
  if (!request.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = request.body.getReader();
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > limit) {
        await reader.cancel().catch(() => {});
        throw new ClientError(413, `upload is over the ${limitText(limit)} limit`);
      }
      chunks.push(value);
    }
  } catch (error) {
    if (error instanceof ClientError) throw error;
    throw new ClientError(400, `the upload was cut off: ${(error as Error).message}`);
  } finally {
    reader.releaseLock();
  }
  return concatBytes(chunks);
}

/** Parses a JSON request body, or throws a 400 naming what was expected. */
export function parseJsonBody(bytes: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw new ClientError(400, `${what} is not valid JSON`);
  }
}

function limitText(limit: number): string {
  return `${Math.round(limit / 1024 / 1024)} MB`;
}
