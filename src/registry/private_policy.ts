// Who may publish what: the one-source rule shared by the three ecosystems. A name becomes
// private with its first publish here (or an explicit claim); from then on upstream is never
// consulted for it. A name that upstream already has is refused unless the publisher asks to
// shadow it, because a private `foo` silently replacing the public `foo` in every VM is exactly
// the mistake dependency confusion exploits — in either direction.
import { type PackageState, PrivatePackages } from "../store/private_packages.ts";
import { ClientError } from "./request_body.ts";

/** The header `vm pkg add --allow-shadow` sends. Native clients claim the name instead. */
export const ALLOW_SHADOW_HEADER = "x-vm-allow-shadow";

export interface NewNameCheck {
  /** What users type with `--type` for this ecosystem (for the hint in errors). */
  type: string;
  /**
   * Whether upstream has the name: true, or the spelling upstream has it under when that is
   * another one (cargo's `serde-json` is crates.io's `serde_json`), or false. Throws when upstream
   * cannot be asked.
   */
  existsUpstream(): Promise<boolean | string>;
  request: Request;
}

/**
 * The state to publish into: the current private package, or a new one when the name may
 * become private. Throws a 409 for a public name the publisher did not ask to shadow.
 */
export async function packageToPublish(
  current: PackageState | undefined,
  name: string,
  check: NewNameCheck,
): Promise<PackageState> {
  if (current) return current;
  const allowShadow = check.request.headers.get(ALLOW_SHADOW_HEADER) === "true";
  let upstreamHasIt: boolean | string;
  try {
    upstreamHasIt = await check.existsUpstream();
  } catch (error) {
    if (!allowShadow) {
      throw new ClientError(
        503,
        `cannot check whether ${name} exists upstream (${(error as Error).message}); ` +
          `claim the name first: vm pkg claim ${name} --type ${check.type}`,
      );
    }
    upstreamHasIt = true;
  }
  if (upstreamHasIt && !allowShadow) {
    const spelled = typeof upstreamHasIt === "string" ? ` (as ${upstreamHasIt})` : "";
    throw new ClientError(
      409,
      `${name} exists on the public registry${spelled}; publishing it here would hide the public one ` +
        `from every client of this registry. If that is what you want: ` +
        `vm pkg add --allow-shadow, or vm pkg claim ${name} --type ${check.type} before publishing`,
    );
  }
  return PrivatePackages.emptyPackage(name, upstreamHasIt !== false);
}
