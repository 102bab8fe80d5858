// `GET /setup.sh`: a POSIX sh script that points the package clients of the user who runs it (a VM,
// a CI runner, a laptop) at this registry, with the same fallback VMs get: the ecosystems'
// user-level files (descriptors' `clients.userFiles`, what VMs get at provisioning) and the client
// wrappers (client_wrapper_script.ts) in ~/.local/lib/vm/bin, first on PATH through a marked block
// in ~/.profile. It never loses a file it did not write: a user's own ~/.npmrc (etc.) is moved
// aside and put back by `sh -s -- --undo`, which takes back exactly what the script wrote. Running
// it twice writes nothing twice. The registry's address comes from the request's Host header
// only when that is a plain host name or IP address with a port: anything else (a hostile Host
// must never reach the script's text) gets the server's own URL.
import { registryAddress } from "./ecosystem.ts";
import { ECOSYSTEMS } from "./ecosystems.ts";
import { WRAPPED_COMMANDS, wrapperScript } from "./client_wrapper_script.ts";

/** A DNS name (labels of letters, digits and inner hyphens) or a dotted IPv4 address. */
const HOST_NAME =
  /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i;
/** An IPv6 address in brackets (checked further by the URL parser). */
const IPV6 = /^\[[0-9a-f:.]{2,45}\]$/i;

/**
 * The registry's base URL for a request's Host header, or `fallbackUrl` when the header is absent
 * or anything but `name[:port]`, `a.b.c.d[:port]` or `[v6][:port]`.
 */
export function setupBaseUrl(host: string | null, fallbackUrl: string): string {
  if (host === null || host.length > 300) return fallbackUrl;
  const match = /^(?<name>\[[^\]]*\]|[^:]*)(?::(?<port>[0-9]{1,5}))?$/.exec(host);
  const name = match?.groups?.name ?? "";
  const port = match?.groups?.port;
  if (!HOST_NAME.test(name) && !IPV6.test(name)) return fallbackUrl;
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) return fallbackUrl;
  try {
    const url = new URL(`http://${name}${port === undefined ? "" : `:${port}`}/`);
    return url.origin;
  } catch {
    return fallbackUrl;
  }
}

/** Where the script keeps its wrappers and the user's files it moved aside, under $HOME. */
export const SETUP_LIB_DIR = ".local/lib/vm";
const HEREDOC_END = "VM_SETUP_EOF";
const BEGIN = "# >>> vm pkg setup.sh";
const END = "# <<< vm pkg setup.sh <<<";

/** A path under $HOME as the descriptors name them: nothing the shell would read as syntax. */
/** How every user-level file vm writes begins (ecosystem.ts WRITTEN_BY_VM and cargo's own line). */
const WRITTEN_BY = "# Written by vm:";

const SAFE_PATH = /^[A-Za-z0-9._-]+(?:\/[A-Za-z0-9._-]+)*$/;

/** Quotes one word for sh (single quotes). */
function quote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** A here-document with a quoted delimiter: its text reaches the file byte for byte. */
function heredoc(command: string, text: string): string {
  if (text.split("\n").includes(HEREDOC_END)) {
    throw new Error(`file text contains the here-document delimiter ${HEREDOC_END}`);
  }
  const body = text.endsWith("\n") ? text : `${text}\n`;
  if (body !== text) throw new Error("setup.sh can only write files that end with a newline");
  return `${command} <<'${HEREDOC_END}'\n${body}${HEREDOC_END}`;
}

/** The script `GET /setup.sh` answers, for a registry at `baseUrl` (validated by the caller). */
export function setupScript(baseUrl: string): string {
  const url = new URL(baseUrl);
  const origin = url.origin;
  const port = url.port || "80";
  const registry = registryAddress(origin);
  const files: Record<string, string> = Object.assign(
    {},
    ...ECOSYSTEMS.map((each) => each.clients.userFiles?.(registry) ?? {}),
  );
  for (const path of Object.keys(files)) {
    if (!SAFE_PATH.test(path) || path.split("/").includes("..")) {
      throw new Error(`unsafe user file path from a descriptor: ${path}`);
    }
    // Its first line is how --undo and a second run know the file is the script's own.
    if (!files[path].startsWith(WRITTEN_BY)) {
      throw new Error(`${path} does not start with "${WRITTEN_BY}"`);
    }
  }
  const paths = Object.keys(files);
  const clients = WRAPPED_COMMANDS.join(" ");
  return `#!/bin/sh
# vm pkg: points this user's package clients (npm, pip, uv, cargo, go...) at the registry at
# ${origin}, falling back to the public registries while it does not answer.
#   curl -fsSL ${origin}/setup.sh | sh                  set up (again: changes nothing)
#   curl -fsSL ${origin}/setup.sh | sh -s -- --undo     take back exactly what it wrote
# A file of yours it replaces (~/.npmrc...) is moved to ~/${SETUP_LIB_DIR}/setup-backup and put back
# by --undo. POSIX sh.
set -eu

registry=${quote(origin)}
header=${quote(WRITTEN_BY)}
begin=${quote(BEGIN)}
end=${quote(END)}
clients=${quote(clients)}

case "\${1-}" in
  "") mode=setup ;;
  --undo) mode=undo ;;
  *)
    echo "setup.sh: unknown argument: $1 (--undo takes the set-up back)" >&2
    exit 2
    ;;
esac
if [ -z "\${HOME-}" ] || [ ! -d "$HOME" ]; then
  echo "setup.sh: HOME is not a directory" >&2
  exit 1
fi
lib="$HOME/${SETUP_LIB_DIR}"
backups="$lib/setup-backup"
wrappers="$lib/bin"
profile="$HOME/.profile"
health="\${XDG_CACHE_HOME:-$HOME/.cache}/vm/registry-health-${port}"
did=0
# Directories setup creates under $HOME (relative), so --undo removes them again when empty.
dirs_file="$lib/setup-dirs"
new_dirs=

# note_dirs DIR: remembers DIR and its parents under $HOME that do not exist yet.
note_dirs() {
  dir=$1
  while [ "$dir" != "$HOME" ] && [ ! -d "$dir" ]; do
    new_dirs="$new_dirs\${dir#"$HOME"/}
"
    dir=\${dir%/*}
  done
}

say() {
  printf 'setup.sh: %s\\n' "$*"
  did=1
}

# Whether a file is one this script (or vm) wrote: its first line starts with the marker.
ours() {
  [ -f "$1" ] || return 1
  first=
  IFS= read -r first <"$1" || :
  case "$first" in
    "$header"*) return 0 ;;
    *) return 1 ;;
  esac
}

exists() {
  [ -e "$1" ] || [ -L "$1" ]
}

# put PATH: writes the file under $HOME from stdin. A file of the user's is moved aside first.
put() {
  target="$HOME/$1"
  backup="$backups/$1"
  note_dirs "\${target%/*}"
  mkdir -p "\${target%/*}"
  tmp="$target.vm-setup.$$"
  cat >"$tmp"
  if exists "$target"; then
    if ours "$target"; then
      if cmp -s "$tmp" "$target"; then
        rm -f "$tmp"
        say "unchanged ~/$1"
        return 0
      fi
    elif exists "$backup"; then
      rm -f "$tmp"
      say "left ~/$1 alone: it is not the one setup.sh wrote, and ~/${SETUP_LIB_DIR}/setup-backup/$1 holds an earlier one of yours (run with --undo first)"
      return 0
    else
      note_dirs "\${backup%/*}"
      mkdir -p "\${backup%/*}"
      mv "$target" "$backup"
      say "moved your ~/$1 to ~/${SETUP_LIB_DIR}/setup-backup/$1 (--undo puts it back)"
    fi
  fi
  mv -f "$tmp" "$target"
  say "wrote ~/$1"
}

# take PATH: removes a file the script wrote, putting back the user's own if it moved one aside.
take() {
  target="$HOME/$1"
  backup="$backups/$1"
  if ours "$target"; then
    if exists "$backup"; then
      mv -f "$backup" "$target"
      say "restored your ~/$1"
    else
      rm -f "$target"
      say "removed ~/$1"
    fi
  elif exists "$backup"; then
    say "kept ~/$1 (not the one setup.sh wrote); your earlier one stays in ~/${SETUP_LIB_DIR}/setup-backup/$1"
  fi
}

# The wrappers run with bash 4.2 or later (\`[[ -v ]]\`); without it the clients keep their files
# (the registry) and just fail while it is down.
wrappers_setup() {
  if ! /bin/bash -c 'x=1; [[ -v x ]]' >/dev/null 2>&1; then
    say "no wrappers: they need /bin/bash 4.2 or later (with the registry down, clients fail instead of using the public registries)"
    return 0
  fi
  note_dirs "$wrappers"
  mkdir -p "$wrappers"
  tmp="$lib/route.vm-setup.$$"
  ${heredoc(`cat >"$tmp"`, wrapperScript({ registryUrl: origin }))}
  chmod 0755 "$tmp"
  changed=0
  if [ -f "$lib/route" ] && cmp -s "$tmp" "$lib/route"; then
    rm -f "$tmp"
  else
    mv -f "$tmp" "$lib/route"
    changed=1
  fi
  for name in $clients; do
    if [ ! -L "$wrappers/$name" ]; then
      ln -s ../route "$wrappers/$name"
      changed=1
    fi
  done
  if [ "$changed" = 1 ]; then
    say "wrote ~/${SETUP_LIB_DIR}/bin: wrappers for $clients (the public registries while the registry does not answer)"
  else
    say "unchanged ~/${SETUP_LIB_DIR}/bin"
  fi
}

wrappers_undo() {
  found=0
  for name in $clients; do
    if [ -L "$wrappers/$name" ]; then
      rm -f "$wrappers/$name"
      found=1
    fi
  done
  if [ -f "$lib/route" ]; then
    rm -f "$lib/route"
    found=1
  fi
  rm -f "$health"
  rmdir "\${health%/*}" "$wrappers" 2>/dev/null || :
  if [ "$found" = 1 ]; then say "removed ~/${SETUP_LIB_DIR}/bin and its wrappers"; fi
}

# ~/.profile gets a marked block that puts the wrappers first on PATH; --undo takes out the block
# (and the file, when the script created it and nothing else is in it).
profile_setup() {
  if [ -f "$profile" ] && grep -q "^$begin" "$profile"; then
    say "unchanged ~/.profile"
    return 0
  fi
  if [ -s "$profile" ] && [ -n "$(tail -c 1 "$profile")" ]; then
    # The last line has no newline: the block starts with one, and --undo takes it out again.
    opening="
$begin (after a line without a newline) >>>"
  elif exists "$profile"; then
    opening="$begin >>>"
  else
    opening="$begin (created ~/.profile) >>>"
  fi
  {
    printf '%s\\n' "$opening"
    printf '%s\\n' 'case ":$PATH:" in *":$HOME/${SETUP_LIB_DIR}/bin:"*) ;; *) PATH="$HOME/${SETUP_LIB_DIR}/bin:$PATH"; export PATH ;; esac'
    printf '%s\\n' "$end"
  } >>"$profile"
  say "added the wrappers to PATH in ~/.profile (a marked block)"
}

profile_undo() {
  if [ ! -f "$profile" ] || ! grep -q "^$begin" "$profile"; then return 0; fi
  created=0
  if grep -q "^$begin (created ~/.profile) >>>$" "$profile"; then created=1; fi
  unterminated=0
  if grep -q "^$begin (after a line without a newline) >>>$" "$profile" &&
    [ "$(tail -n 1 "$profile")" = "$end" ]; then
    unterminated=1
  fi
  tmp="$profile.vm-setup.$$"
  awk -v begin="$begin" -v end="$end" '
    index($0, begin) == 1 { skip = 1; next }
    skip && $0 == end { skip = 0; next }
    !skip { print }
  ' "$profile" >"$tmp"
  if [ "$created" = 1 ] && [ ! -s "$tmp" ]; then
    rm -f "$tmp" "$profile"
    say "removed ~/.profile"
  elif [ "$unterminated" = 1 ]; then
    # The newline the block started with goes too (the file had no other after its last line).
    printf '%s' "$(cat "$tmp")" >"$profile"
    rm -f "$tmp"
    say "took the PATH block out of ~/.profile"
  else
    # Rewritten in place: its mode, owner and any symlink stay as they were.
    cat "$tmp" >"$profile"
    rm -f "$tmp"
    say "took the PATH block out of ~/.profile"
  fi
}

if [ "$mode" = undo ]; then
${paths.map((path) => `  take ${quote(path)}`).join("\n")}
  wrappers_undo
  profile_undo
  # The directories setup created, deepest first, each only if nothing else is in it now.
  if [ -f "$dirs_file" ]; then
    deepest_first=$(awk '{ print length($0) " " $0 }' "$dirs_file" | sort -rn | cut -d' ' -f2-)
    rm -f "$dirs_file"
    while IFS= read -r dir; do
      if [ -n "$dir" ]; then rmdir "$HOME/$dir" 2>/dev/null || :; fi
    done <<VM_SETUP_DIRS
$deepest_first
VM_SETUP_DIRS
  fi
  rmdir "$backups" "$lib" 2>/dev/null || :
  if [ "$did" = 0 ]; then say "nothing to take back"; fi
  exit 0
fi

${paths.map((path) => heredoc(`put ${quote(path)}`, files[path])).join("\n")}
note_dirs "$lib"
mkdir -p "$lib"
wrappers_setup
profile_setup
if [ -n "$new_dirs" ]; then printf '%s' "$new_dirs" >>"$dirs_file"; fi
echo "setup.sh: $registry serves npm, pip, uv, cargo and go for $(id -un 2>/dev/null || echo this user); new login shells have the wrappers on PATH (this one: . ~/.profile)"
`;
}
