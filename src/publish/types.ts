// What `vm pkg add` works with, whatever the ecosystem: a project is built with the ecosystem's
// own tool into files, which are then uploaded through the registry's native publish API (the
// same one npm, twine and cargo use), so there is one publish path on the server.
export type PackageType = "npm" | "pypi" | "cargo";

export interface BuiltFile {
  path: string;
  filename: string;
  size: number;
}

export interface BuiltPackage {
  type: PackageType;
  name: string;
  version: string;
  files: BuiltFile[];
  /** A temp dir the build wrote into, removed once the upload is done. */
  tempDir?: string;
}

export interface UploadOptions {
  /** The registry's base URL, e.g. http://127.0.0.1:3080 */
  registryUrl: string;
  token: string;
  /** Publish even though upstream has the name (sends ALLOW_SHADOW_HEADER). */
  allowShadow: boolean;
}

/** A build or upload failure, with a message fit for one line of output. */
export class PublishError extends Error {
  constructor(message: string, readonly status?: number) {
    super(message);
    this.name = "PublishError";
  }
}

/** The registry's message from an error response (`{"error"}`, cargo's `errors[].detail`, text). */
export async function serverMessage(response: Response): Promise<string> {
  const text = await response.text().catch(() => "");
  try {
    const body = JSON.parse(text);
    if (typeof body?.error === "string") return body.error;
    if (Array.isArray(body?.errors) && typeof body.errors[0]?.detail === "string") {
      return body.errors[0].detail;
    }
  } catch {
    // not JSON
  }
  return text.trim().split("\n")[0] || `HTTP ${response.status}`;
}
