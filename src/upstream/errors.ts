// Errors that carry what the client should be told, so handlers turn them into one clear line.

/** The upstream could not be reached or answered with a server error or timeout. */
export class UpstreamUnavailableError extends Error {
  constructor(readonly url: string, reason: string) {
    super(`upstream ${hostOf(url)} unavailable: ${reason}`);
    this.name = "UpstreamUnavailableError";
  }
}

/**
 * The upstream's answer breaks a rule the registry keeps, so it is neither followed nor stored: a
 * URL or redirect outside the configured upstreams, or a body over its size limit. A kind of
 * "unavailable" on purpose: a cached copy keeps being served, and nothing new is cached.
 */
export class UpstreamRefusedError extends UpstreamUnavailableError {
  constructor(url: string, readonly reason: string) {
    super(url, reason);
    this.name = "UpstreamRefusedError";
    this.message = `upstream ${hostOf(url)}: ${reason}`;
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
    super(`upstream ${hostOf(url)} answered ${status}`);
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

/** The host of a URL for a message; a URL a document made up may have none (`file:`) or not parse. */
function hostOf(url: string): string {
  try {
    const parsed = new URL(url);
    return parsed.host || `${parsed.protocol}//`;
  } catch {
    return "(invalid URL)";
  }
}
