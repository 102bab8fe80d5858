// Who works inside a VM. The VM user takes the uid and gid of the workspace directory's owner on
// the host: it can then write /workspace whoever owns the project, and what it creates there
// belongs on the host to that owner. Nothing on the host is ever chowned.
//
// When the owner is root, the VM user is root itself (home /root), not vm.yaml's `user`. An
// alias account with uid 0 (`useradd -o -u 0 -d /home/dev dev`) was tried: `docker exec --user
// dev` resolves the name to uid 0 and then takes HOME from the first account with that uid, so
// it runs with HOME=/root and `whoami` says root; the files provisioning wrote into /home/dev
// would be missed by every `docker exec` that does not pass HOME (an editor attaching to the
// container, a plain `docker exec -it vm-x bash`). With root itself every way in agrees.
import { CliError } from "../host/errors.ts";
import type { VmConfig } from "./config.ts";

export interface VmUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/** The VM user for a new VM of `config`: the owner of its workspace on the host. */
export async function workspaceUser(config: VmConfig): Promise<VmUser> {
  const info = await Deno.stat(config.workspace);
  // Without ownership information (not a Unix host) the VM user is a fresh 1000:1000.
  return vmUser(config.user, info.uid ?? 1000, info.gid ?? 1000);
}

/** A Linux user name (vm.yaml's rule; "root" included): safe to put in provisioning scripts. */
const USER_NAME = /^[a-z_][a-z0-9_-]{0,31}$/;

export function vmUser(name: string, uid: number, gid: number): VmUser {
  if (!USER_NAME.test(name)) {
    throw new CliError(`not a usable VM user name: ${JSON.stringify(name)}`);
  }
  if (uid === 0 || name === "root") return { name: "root", uid: 0, gid: 0, home: "/root" };
  return { name, uid, gid, home: homeOf(name) };
}

/** Where provisioning puts a VM user's home (useradd -d). */
export function homeOf(name: string): string {
  return name === "root" ? "/root" : `/home/${name}`;
}

/** "uid:gid", as the VM's label records it. */
export function formatIds(user: VmUser): string {
  return `${user.uid}:${user.gid}`;
}

export function parseIds(label: string | undefined): { uid: number; gid: number } | undefined {
  const match = /^(\d+):(\d+)$/.exec(label ?? "");
  return match ? { uid: Number(match[1]), gid: Number(match[2]) } : undefined;
}
