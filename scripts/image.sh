#!/usr/bin/env bash
# Builds Drover's container image (the Dockerfile) with buildah, with no container engine and
# no registry: the base images debian:bookworm and debian:bookworm-slim are made here with
# debootstrap (bookworm, minbase) from the Debian mirror apt is configured with, imported into
# a buildah store of our own (vfs driver, chroot isolation: no daemon, no overlay mounts), and
# kept there between runs; the build then runs with --pull=never, so the Dockerfile keeps its
# normal FROM lines and nothing is pulled.
#
# Usage:
#   scripts/image.sh [--tag NAME] [--binaries "a b c"]   full multi-stage build (target runtime)
#   scripts/image.sh [--tag NAME] --prebuilt FILE...      target prebuilt: the runtime stage with
#                                                         these already built binaries
#   scripts/image.sh --base-only                          only make or check the base images
#   scripts/image.sh buildah ARGS...                      buildah on the same store, e.g.
#                                                         scripts/image.sh buildah images
# Default tag: localhost/drover:dev. Environment:
#   DROVER_IMAGE_CACHE          where the base rootfs tarballs, the stamp and the buildah store
#                               live (default /var/cache/drover-image)
#   DROVER_IMAGE_BASE_MAX_AGE   days before the base images are made again (default 30)
# Needs root (debootstrap, chroot), buildah and debootstrap (scripts/setup.sh installs both).
#
# This file can also be sourced (tests/image/image_test.sh does): it then only defines the
# image_* functions below.
set -euo pipefail

image_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
image_cache="${DROVER_IMAGE_CACHE:-/var/cache/drover-image}"
image_store="$image_cache/storage"
image_runroot="/run/drover-image"
image_base_max_age="${DROVER_IMAGE_BASE_MAX_AGE:-30}"
image_suite=bookworm
image_base_tags=(docker.io/library/debian:bookworm docker.io/library/debian:bookworm-slim)

image_die() {
  echo "image.sh: $*" >&2
  exit 1
}

image_log() { echo "image.sh: $*" >&2; }

# Seconds since $1 (an $EPOCHREALTIME value), one decimal.
image_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

# buildah on our own store: vfs driver, chroot isolation. image_buildah_cmd is the same as a
# plain command, for callers that need its pid (`"${image_buildah_cmd[@]}" run ... &`).
image_buildah_cmd=(env STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot buildah --root "$image_store"
  --runroot "$image_runroot" --storage-driver vfs)
image_buildah() { "${image_buildah_cmd[@]}" "$@"; }

image_require() {
  [ "$(id -u)" -eq 0 ] || image_die "needs root (debootstrap and buildah's chroot isolation)"
  local tool
  for tool in buildah debootstrap; do
    command -v "$tool" >/dev/null 2>&1 ||
      image_die "$tool not found; run scripts/setup.sh (it installs buildah and debootstrap)"
  done
  mkdir -p "$image_cache" "$image_store" "$image_runroot"
}

# "URI SUITE" lines for the Debian suites apt is configured with (main component), read through
# apt itself so that deb822 .sources and one-line .list files are both understood.
image_apt_suites() {
  # shellcheck disable=SC2016 # apt's own $(FIELD) placeholders
  apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT) $(IDENTIFIER)' 2>/dev/null |
    awk -v s="$image_suite" '$3 == "main" && $4 == "Packages" &&
      ($2 == s || $2 == s "-updates" || $2 == s "-security") { print $1, $2 }' | sort -u
}

# The mirror serving the suite itself: what debootstrap installs from.
image_mirror() {
  image_apt_suites | awk -v s="$image_suite" '$2 == s { print $1; exit }'
}

# Writes the rootfs's apt sources: the same mirrors and suites (updates, security) as the
# machine, in deb822 form as Debian's own images have them.
image_write_sources() {
  local rootfs=$1 uri suite
  local -A suites=()
  while read -r uri suite; do suites[$uri]+="${suites[$uri]:+ }$suite"; done < <(image_apt_suites)
  rm -f "$rootfs/etc/apt/sources.list"
  mkdir -p "$rootfs/etc/apt/sources.list.d"
  {
    for uri in "${!suites[@]}"; do
      printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\n' "$uri" "${suites[$uri]}"
      printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n'
    done
  } >"$rootfs/etc/apt/sources.list.d/debian.sources"
}

# What Debian's slim images leave out: documentation, manual pages and translations, now and
# for every package installed later (dpkg path-exclude).
image_slim() {
  local rootfs=$1
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
EOF
  find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$rootfs"/usr/share/{man,groff,info,lintian,linda,locale}/*
}

# debootstrap into a fresh folder, then one tarball per base image.
image_debootstrap() {
  local mirror rootfs t0 include=()
  mirror="$(image_mirror)"
  [ -n "$mirror" ] || image_die "apt has no '$image_suite main' source configured (apt-get indextargets); cannot debootstrap"
  case "$mirror" in https:*) include=(--include=ca-certificates) ;; esac
  rootfs="$image_cache/rootfs.tmp"
  rm -rf "$rootfs"
  image_log "debootstrap --variant=minbase $image_suite from the mirror apt uses ($mirror)"
  t0=$EPOCHREALTIME
  if ! nice -n 10 debootstrap --variant=minbase "${include[@]}" "$image_suite" "$rootfs" "$mirror" \
    >"$image_cache/debootstrap.log" 2>&1; then
    tail -n 20 "$image_cache/debootstrap.log" >&2
    image_die "debootstrap failed (whole log: $image_cache/debootstrap.log)"
  fi
  image_log "debootstrap: $(image_since "$t0") s"
  image_write_sources "$rootfs"
  # Debian's own images carry the point release's and the security updates: so does this one.
  t0=$EPOCHREALTIME
  mount -t proc proc "$rootfs/proc"
  if ! { chroot "$rootfs" apt-get update -qq &&
    chroot "$rootfs" env DEBIAN_FRONTEND=noninteractive apt-get -y -qq upgrade; } \
    >>"$image_cache/debootstrap.log" 2>&1; then
    umount "$rootfs/proc"
    tail -n 20 "$image_cache/debootstrap.log" >&2
    image_die "apt-get upgrade in the new rootfs failed (log: $image_cache/debootstrap.log)"
  fi
  umount "$rootfs/proc"
  image_log "updates from ${image_suite}-updates and -security: $(image_since "$t0") s"
  # What a container gets from its runtime, and apt's downloads: not part of an image.
  rm -f "$rootfs/etc/resolv.conf" "$rootfs/etc/hostname"
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
    "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/tmp/* "$rootfs"/var/log/*.log \
    "$rootfs/var/log/apt" "$rootfs"/var/cache/debconf/*-old "$rootfs"/var/lib/dpkg/*-old
  tar --numeric-owner --xattrs -C "$rootfs" --exclude='./dev/*' --exclude='./proc/*' \
    --exclude='./sys/*' -cf "$image_cache/$image_suite.tar.tmp" .
  image_slim "$rootfs"
  tar --numeric-owner --xattrs -C "$rootfs" --exclude='./dev/*' --exclude='./proc/*' \
    --exclude='./sys/*' -cf "$image_cache/$image_suite-slim.tar.tmp" .
  mv "$image_cache/$image_suite.tar.tmp" "$image_cache/$image_suite.tar"
  mv "$image_cache/$image_suite-slim.tar.tmp" "$image_cache/$image_suite-slim.tar"
  rm -rf "$rootfs"
}

# One base image from its tarball: a scratch container, the rootfs unpacked into its mount,
# Debian's image settings, committed under the name the Dockerfile's FROM resolves to.
image_import() {
  local tarball=$1 tag=$2 ctr mnt
  ctr="$(image_buildah from --pull=never scratch)"
  mnt="$(image_buildah mount "$ctr")"
  tar --numeric-owner --xattrs -xpf "$tarball" -C "$mnt"
  image_buildah umount "$ctr" >/dev/null
  image_buildah config --os linux --arch "$(dpkg --print-architecture)" \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd '["bash"]' \
    --label io.drover.base="debootstrap $image_suite minbase $(date -u +%F)" "$ctr"
  image_buildah commit --quiet --rm "$ctr" "$tag" >/dev/null
}

# Makes sure both base images are in the store; the stamp records when they were made. Holds a
# lock: concurrent runs (two build trees testing at once) make them once.
image_base() {
  image_require
  local lock stamp="$image_cache/base.stamp" t0 fresh=0 tag
  exec {lock}>"$image_cache/base.lock"
  flock "$lock"
  t0=$EPOCHREALTIME
  if [ -f "$stamp" ] && [ -z "$(find "$stamp" -mtime +"$image_base_max_age")" ]; then fresh=1; fi
  if [ "$fresh" -eq 1 ] && image_buildah inspect --type image "${image_base_tags[0]}" >/dev/null 2>&1 &&
    image_buildah inspect --type image "${image_base_tags[1]}" >/dev/null 2>&1; then
    image_log "base images: cached ($(cat "$stamp"); $(image_since "$t0") s)"
    flock -u "$lock"
    return 0
  fi
  if [ "$fresh" -eq 0 ] || [ ! -f "$image_cache/$image_suite.tar" ] ||
    [ ! -f "$image_cache/$image_suite-slim.tar" ]; then
    image_debootstrap
    date -u '+made %F %T UTC' >"$stamp"
  fi
  t0=$EPOCHREALTIME
  local old=()
  for tag in "${image_base_tags[@]}"; do
    old+=("$(image_buildah inspect --type image --format '{{.FromImageID}}' "$tag" 2>/dev/null || true)")
  done
  image_import "$image_cache/$image_suite.tar" "${image_base_tags[0]}"
  image_import "$image_cache/$image_suite-slim.tar" "${image_base_tags[1]}"
  # The tags moved to the new images; the old ones go unless a running build still uses them.
  for tag in "${old[@]}"; do
    if [ -n "$tag" ]; then image_buildah rmi "$tag" >/dev/null 2>&1 || true; fi
  done
  image_log "base images: imported ${image_base_tags[*]} ($(image_since "$t0") s)"
  flock -u "$lock"
}

# buildah bud, its output passed through, and how long each Dockerfile step took.
image_bud() {
  local steps t0 status=0
  steps="$(mktemp)"
  t0=$EPOCHREALTIME
  nice -n 10 "${image_buildah_cmd[@]}" bud --isolation chroot --pull=never --layers=false "$@" 2>&1 |
    while IFS= read -r line; do
      printf '%s\n' "$line"
      case "$line" in *STEP*) printf '%s %s\n' "$EPOCHREALTIME" "$line" >>"$steps" ;; esac
    done || status=$?
  printf '%s END\n' "$EPOCHREALTIME" >>"$steps"
  image_log "build: $(image_since "$t0") s; by step:"
  awk 'NR > 1 { printf "  %7.1f s  %s\n", $1 - t, line } { t = $1; $1 = ""; line = substr($0, 2, 100) }' \
    "$steps" >&2
  rm -f "$steps"
  [ "$status" -eq 0 ] || image_die "buildah bud failed (exit $status)"
}

# Full multi-stage build of the Dockerfile (default target: runtime).
image_build_full() {
  local tag=$1 binaries=$2 args=()
  [ -z "$binaries" ] || args+=(--build-arg "BINARIES=$binaries")
  image_log "full multi-stage build of $image_root/Dockerfile as $tag"
  image_bud -f "$image_root/Dockerfile" -t "$tag" "${args[@]}" "$image_root"
}

# The prebuilt target: a small context holding only bin/ with the given binaries.
image_build_prebuilt() {
  local tag=$1 ctx f
  shift
  [ "$#" -gt 0 ] || image_die "--prebuilt needs at least one binary"
  for f in "$@"; do [ -x "$f" ] || image_die "not an executable file: $f"; done
  # One context folder per run, named by its pid; those of runs no longer alive are removed.
  for ctx in "$image_cache"/context.*; do
    if [ -d "$ctx" ] && ! kill -0 "${ctx##*.}" 2>/dev/null; then rm -rf "$ctx"; fi
  done
  ctx="$image_cache/context.$$"
  rm -rf "$ctx"
  mkdir -p "$ctx/bin"
  cp -L "$@" "$ctx/bin/"
  image_log "runtime stage with prebuilt $(cd "$ctx/bin" && echo *) as $tag"
  image_bud -f "$image_root/Dockerfile" --target prebuilt -t "$tag" "$ctx"
  rm -rf "$ctx"
}

image_main() {
  local tag=localhost/drover:dev binaries="" mode=full prebuilt=()
  if [ "${1:-}" = buildah ]; then
    shift
    image_require
    image_buildah "$@"
    return
  fi
  while [ "$#" -gt 0 ]; do
    case "$1" in
      --tag) tag=${2:?--tag needs a name}; shift 2 ;;
      --tag=*) tag=${1#--tag=}; shift ;;
      --binaries) binaries=${2:?--binaries needs a list}; shift 2 ;;
      --binaries=*) binaries=${1#--binaries=}; shift ;;
      --base-only) mode=base; shift ;;
      --prebuilt) mode=prebuilt; shift; prebuilt=("$@"); break ;;
      -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; return 0 ;;
      *) echo "image.sh: unknown argument '$1' (see scripts/image.sh --help)" >&2; return 2 ;;
    esac
  done
  image_base
  case "$mode" in
    base) ;;
    full) image_build_full "$tag" "$binaries" ;;
    prebuilt) image_build_prebuilt "$tag" "${prebuilt[@]}" ;;
  esac
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then image_main "$@"; fi
