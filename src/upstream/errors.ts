// Errors that carry what the client should be told, so handlers turn them into one clear line.

/** The upstream could not be reached or answered with a server error or timeout. */
export class UpstreamUnavailableError extends Error {
  constructor(readonly url: string, reason: string) {
    super(`upstream ${new URL(url).host} unavailable: ${reason}`);
    this.name = "UpstreamUnavailableError";
  }
}

/** The registry runs offline (`offline: true`, `--offline`): it never contacts an upstream. */
export class OfflineError extends UpstreamUnavailableError {
  constructor(url: string) {
    super(url, "the registry is offline (offline: true or --offline) and never contacts it");
    this.name = "OfflineError";
  }
}

/** The upstream answered, but not with what we asked for (404, 403, …). */
export class UpstreamStatusError extends Error {
  constructor(readonly url: string, readonly status: number) {
    super(`upstream ${new URL(url).host} answered ${status}`);
    this.name = "UpstreamStatusError";
  }
}

/** Bytes from the upstream did not match the digest its own index published. */
export class IntegrityError extends Error {
  constructor(readonly what: string, expected: string, actual: string) {
    super(`integrity check failed for ${what}: expected ${expected}, got ${actual}`);
    this.name = "IntegrityError";
  }
}
