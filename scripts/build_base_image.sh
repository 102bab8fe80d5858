#!/usr/bin/env bash
# Builds the local base image for `vm` VMs (vm-base:bookworm) with debootstrap: no image registry is
# reachable from these machines, so nothing can be pulled. Debian bookworm (minbase) from
# deb.debian.org, plus the clients the VM talks to the host registry with: node/npm, python3/pip,
# cargo, go. Exits at once when the image already exists, unless --rebuild.
#
#   scripts/build_base_image.sh [--rebuild] [--image NAME]
#
# Needs root, debootstrap and a Docker engine that answers (`docker info`).
set -euo pipefail

image="vm-base:bookworm"
rebuild=0
while [ $# -gt 0 ]; do
  case "$1" in
    --rebuild) rebuild=1 ;;
    --image)
      image="${2:?--image needs a name}"
      shift
      ;;
    -h | --help)
      sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "build_base_image: unknown argument: $1" >&2
      exit 2
      ;;
  esac
  shift
done

mirror="http://deb.debian.org/debian"
security_mirror="http://deb.debian.org/debian-security"
# cargo-web, not cargo: bookworm's `cargo` is 0.66 (Rust 1.65), too old for the sparse index
# protocol (1.68+). cargo-web is Debian's newer toolchain (1.96 in bookworm-security); it
# "Provides: cargo" and installs /usr/bin/cargo.
packages=(
  ca-certificates curl
  python3-pip python3-venv
  nodejs npm
  cargo-web
  # Go 1.19 (bookworm's golang-go): GOPROXY and the checksum database through the registry
  golang-go
  # for the shells `vm ssh` opens: small, and git is also what npm/pip/cargo git dependencies need
  sudo git procps iproute2 less
)

started=$SECONDS
progress() { printf '[base-image] %3ds %s\n' "$((SECONDS - started))" "$*"; }
die() {
  printf '[base-image] FAILED: %s\n' "$*" >&2
  exit 1
}

command -v docker >/dev/null 2>&1 || die "no docker CLI on PATH"
docker info >/dev/null 2>&1 || die "no Docker engine answers (start dockerd)"

if [ "$rebuild" = 0 ] && docker image inspect "$image" >/dev/null 2>&1; then
  progress "$image exists ($(docker image inspect --format '{{.Size}}' "$image" | numfmt --to=iec)); --rebuild to build it again"
  exit 0
fi

# With --rebuild, the image the tag pointed at before; removed once the new one is tagged.
previous=$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)

[ "$(id -u)" = 0 ] || die "debootstrap and chroot need root"
command -v debootstrap >/dev/null 2>&1 || die "debootstrap is missing (apt-get install -y debootstrap)"

# The root file system is about 1 GB while it is built: put it on /var/tmp (disk, not tmpfs)
# unless VM_BASE_BUILD_DIR says otherwise.
parent="${VM_BASE_BUILD_DIR:-/var/tmp}"
mkdir -p "$parent"
work=$(mktemp -d "$parent/vm-base.XXXXXX")
root="$work/rootfs"
log="$work/build.log"
mkdir -p "$root"

cleanup() {
  local status=$?
  if mountpoint -q "$root/proc" 2>/dev/null; then
    umount "$root/proc" 2>/dev/null || umount -l "$root/proc" 2>/dev/null || true
  fi
  if [ "$status" -ne 0 ] && [ -f "$log" ]; then
    printf '[base-image] last lines of the build log:\n' >&2
    tail -n 30 "$log" >&2 || true
  fi
  # Never delete through a mount that is still there.
  if mountpoint -q "$root/proc" 2>/dev/null; then
    printf '[base-image] %s is still mounted: leaving %s in place\n' "$root/proc" "$work" >&2
  else
    rm -rf "$work"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Runs a step with its output in the log; the log's tail is printed if it fails.
step() {
  local what=$1
  shift
  progress "$what"
  "$@" >>"$log" 2>&1 || die "$what (exit $?)"
}

in_root() { DEBIAN_FRONTEND=noninteractive LC_ALL=C chroot "$root" "$@"; }

step "debootstrap --variant=minbase bookworm from $mirror (into $root)" \
  debootstrap --variant=minbase bookworm "$root" "$mirror"

cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security_mirror bookworm-security main
EOF
cp /etc/resolv.conf "$root/etc/resolv.conf"
# No service may start inside the chroot while packages are installed.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
mount -t proc proc "$root/proc"

step "apt-get update (bookworm, bookworm-updates, bookworm-security)" in_root apt-get update
step "apt-get upgrade (security fixes newer than the debootstrap set)" in_root apt-get -y upgrade
step "apt-get install --no-install-recommends ${packages[*]}" \
  in_root apt-get install -y --no-install-recommends "${packages[@]}"

progress "cleaning apt caches and lists"
in_root apt-get clean >>"$log" 2>&1
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/log/apt/* "$root"/tmp/*
rm -f "$root/usr/sbin/policy-rc.d"
# Docker mounts its own resolv.conf and hostname into every container: keep the host's out.
: >"$root/etc/resolv.conf"
umount "$root/proc"

progress "docker import -> $image"
tar -C "$root" --numeric-owner -c . | docker import \
  --change 'CMD ["sleep", "infinity"]' \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'LABEL vm.base=bookworm' \
  --change "LABEL vm.base.built=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  --message "vm base image: debootstrap minbase bookworm + ${packages[*]}" \
  - "$image" >>"$log" 2>&1 || die "docker import"

current=$(docker image inspect --format '{{.Id}}' "$image")
if [ -n "$previous" ] && [ "$previous" != "$current" ]; then
  if docker image rm "$previous" >/dev/null 2>&1; then
    progress "removed the previous $image ($previous)"
  else
    progress "the previous $image ($previous) is still used by a container: left untagged"
  fi
fi

progress "checking the clients in $image"
versions=$(docker run --rm --network none "$image" sh -c \
  'echo "node $(node --version), npm $(npm --version), $(python3 --version), pip $(pip --version | cut -d" " -f2), $(cargo --version), $(go version)"') ||
  die "a client does not run in $image"
progress "$versions"
progress "built $image ($(docker image inspect --format '{{.Size}}' "$image" | numfmt --to=iec))"
