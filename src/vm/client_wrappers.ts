// The package clients inside a VM when the host registry is down. The user-level files written at
// provisioning (src/clients/user_config.ts) point every client at the host registry, for shells,
// scripts and editors alike; on their own they make a stopped registry a minute-long hang (npm
// retries host.docker.internal for ~70 s) or an empty index (pip). So each client also gets a
// small wrapper, first on the VM user's PATH, that asks the registry's health route (the answer
// remembered for a few seconds, so a burst of commands costs one check) and then runs the real
// client: unchanged while the registry answers, pointed at the public registries when it does
// not. What sends each client to the public registry is its ecosystem's to say (descriptor:
// `clients.commands[].publicEnv` overrides the user-level files; cargo's source replacement has no
// variable, so it gets `publicArgs`).
//
// One script, installed once as root, with a symlink per client name; it finds the real client
// on PATH after itself. `python3 -m pip` and `python3 -m uv` reach pip and uv without their
// wrappers, so the interpreters a client names (`moduleOf`) are wrapped too, but only those
// invocations are ever checked or changed: any other python command is exec'd at once.
import {
  FALLBACK_MESSAGE,
  HEALTH_TTL,
  WRAPPED_COMMANDS,
  type WrapperOptions,
  wrapperScript,
} from "../registry/client_wrapper_script.ts";

export { FALLBACK_MESSAGE, HEALTH_TTL, WRAPPED_COMMANDS, type WrapperOptions, wrapperScript };

/** Where the wrappers live: root-owned, first on the VM user's PATH. */
export const VM_LIB_DIR = "/usr/local/lib/vm";
export const WRAPPER_DIR = `${VM_LIB_DIR}/bin`;
/** Sourced by the VM user's ~/.profile and ~/.bashrc: PATH with the wrappers first. */
export const PROFILE_SCRIPT = `${VM_LIB_DIR}/profile.sh`;
const ROUTE_SCRIPT = `${VM_LIB_DIR}/route`;

/**
 * The PATH every login and interactive shell of the VM user gets: the wrappers, the user's venv
 * (where `pip install` goes), npm's global prefix and cargo's bin. Prepended once (a shell that
 * reads both ~/.profile and ~/.bashrc does not grow it twice), and after whatever ~/.profile put
 * first, so the wrappers stay in front.
 */
export function profileScript(): string {
  return `# Written by vm: the package-client wrappers first on PATH (with the host registry down they
# use the public registries), then the VM user's Python venv, npm's global bin and cargo's bin.
vm_path="${WRAPPER_DIR}:$HOME/.venv/bin:$HOME/.local/bin:$HOME/.cargo/bin"
case "$PATH" in
  "$vm_path" | "$vm_path":*) ;;
  *) PATH="$vm_path:$PATH" ;;
esac
export PATH
unset vm_path
`;
}

/** Root's script that installs the profile snippet and, for a VM on the registry, the wrappers. */
export function installScript(registryUrl: string | undefined): string {
  const encode = (text: string) => new TextEncoder().encode(text).toBase64();
  const lines = [
    "set -e",
    `mkdir -p ${WRAPPER_DIR}`,
    `printf '%s' '${encode(profileScript())}' | base64 -d > ${PROFILE_SCRIPT}.tmp`,
    `chmod 0644 ${PROFILE_SCRIPT}.tmp && mv -f ${PROFILE_SCRIPT}.tmp ${PROFILE_SCRIPT}`,
  ];
  if (registryUrl !== undefined) {
    lines.push(
      `printf '%s' '${encode(wrapperScript({ registryUrl }))}' | base64 -d > ${ROUTE_SCRIPT}.tmp`,
      `chmod 0755 ${ROUTE_SCRIPT}.tmp && mv -f ${ROUTE_SCRIPT}.tmp ${ROUTE_SCRIPT}`,
      ...WRAPPED_COMMANDS.map((name) => `ln -sfn ../route ${WRAPPER_DIR}/${name}`),
    );
  }
  return lines.join("\n") + "\n";
}
