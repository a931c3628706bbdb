#!/usr/bin/env bash
# Build and run the crmflow image (deploy/docker/Dockerfile) with the container engine this machine has.
#
#   deploy/docker/image.sh build    # `make image`: build $CRMFLOW_IMAGE; print its size and build time
#   deploy/docker/image.sh engine   # print the engine (docker|podman|buildah), installing and
#                                   # configuring podman first where none works (the image tests)
#   deploy/docker/image.sh service unix:///PATH.sock
#                                   # podman only: its Docker-compatible API (for testcontainers),
#                                   # in the foreground until SIGTERM
#
# Engine: the first that works of docker (a daemon answers), podman, buildah; where none does and
# apt-get can install packages, Debian's podman, mmdebstrap and runc are installed. Podman runs
# daemonless with `--runtime runc --cgroup-manager cgroupfs` (PODMAN_FLAGS) and builds with
# `--isolation chroot`: the only modes a sandbox without systemd or cgroup delegation allows. Where
# the kernel refuses podman's default container rlimits, /etc/containers/containers.conf gets
# `[containers] default_ulimits = []` (containers then inherit the engine's own limits).
#
# Base: BASE_IMAGE (default the official python:3.11-slim-bookworm). Where it cannot be pulled (no
# registry answers), a local base stands in: Debian bookworm minbase with Python 3.11 from Debian's
# packages, made by mmdebstrap from the Debian mirror and imported as $LOCAL_BASE; its tar is cached
# under $CRMFLOW_CACHE_DIR/image (default ~/.cache/crmflow/image), so only the first build pays for it.
#
# Environment: CRMFLOW_IMAGE (tag, default crmflow:local, compose's default), BASE_IMAGE,
# CRMFLOW_CACHE_DIR, CRMFLOW_ENGINE (force docker|podman|buildah), CRMFLOW_CA_BUNDLE (a CA bundle pip in
# the build must trust, for a TLS-intercepting proxy; default $PIP_CERT when that file exists).
set -euo pipefail

PROG=image
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
IMAGE=${CRMFLOW_IMAGE:-crmflow:local}
BASE_IMAGE=${BASE_IMAGE:-python:3.11-slim-bookworm}
CACHE=${CRMFLOW_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/crmflow}/image
CONTAINERS_CONF=/etc/containers/containers.conf
PODMAN_FLAGS=(--runtime runc --cgroup-manager cgroupfs)
# The local base: what python:3.11-slim-bookworm gives (Python 3.11 with venv), from Debian packages;
# no documentation, manual pages, translations or glibc's iconv modules (gconv: Python's codecs are
# its own); /usr merged by mmdebstrap's hook rather than by the
# usrmerge package (which would bring 50 MB of perl).
MMDEBSTRAP_ARGS=(
    --variant=minbase '--include=python3,python3-venv'
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
    --aptopt='APT::Install-Recommends "false"'
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*'
    --dpkgopt='path-exclude=/usr/share/info/*' --dpkgopt='path-exclude=/usr/share/locale/*'
    --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/lib/*/gconv/*'
    bookworm
)
# Tar and image are named after a hash of the arguments: a change makes a new base.
BASE_KEY=$(printf '%s\n' "${MMDEBSTRAP_ARGS[@]}" | sha256sum | cut -c1-12)
LOCAL_BASE=localhost/crmflow-base:bookworm-python3.11-$BASE_KEY

say() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: ERROR: %s\n' "$PROG" "$*" >&2; exit 1; }
now() { date +%s; }

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
    command -v apt-get >/dev/null || die "no container engine (docker, podman, buildah) and no apt-get to install podman"
    say "installing $* from Debian"
    # stdout stays clean: callers print results there
    as_root apt-get update -qq >&2
    # With recommends (fuse-overlayfs, slirp4netns, network plugins, catatonit...): the set the image
    # tests were run with here; without them podman's storage and networking choices differ.
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >&2
}

# Podman's default rlimits (nofile 1048576, nproc 4194304) exceed what some sandboxes grant.
configure_podman() {
    if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt 1048576 ] &&
        ! grep -qs '^ *default_ulimits' "$CONTAINERS_CONF"; then
        say "the kernel refuses podman's default rlimits: default_ulimits = [] in $CONTAINERS_CONF"
        as_root mkdir -p "$(dirname "$CONTAINERS_CONF")"
        if grep -qs '^\[containers\]' "$CONTAINERS_CONF"; then
            as_root sed -i 's/^\[containers\]/[containers]\ndefault_ulimits = []/' "$CONTAINERS_CONF"
        else
            printf '[containers]\ndefault_ulimits = []\n' | as_root tee -a "$CONTAINERS_CONF" >/dev/null
        fi
    fi
}

pick_engine() {
    if [ -n "${CRMFLOW_ENGINE:-}" ]; then
        printf '%s' "$CRMFLOW_ENGINE"
    elif command -v docker >/dev/null && docker info >/dev/null 2>&1; then
        printf docker
    elif command -v podman >/dev/null; then
        printf podman
    elif command -v buildah >/dev/null; then
        printf buildah
    else
        apt_install podman runc
        printf podman
    fi
}

ENGINE=$(pick_engine)
engine() {
    case $ENGINE in
        podman) podman "${PODMAN_FLAGS[@]}" "$@" ;;
        *) "$ENGINE" "$@" ;;
    esac
}
[ "$ENGINE" = podman ] && configure_podman

has_image() {
    case $ENGINE in
        buildah) buildah inspect --type image "$1" >/dev/null 2>&1 ;;
        *) engine image inspect "$1" >/dev/null 2>&1 ;;
    esac
}

# The local base's tar, made once.
local_base_tar() {
    local tar=$CACHE/debian-bookworm-python3.11-$BASE_KEY.tar
    if [ ! -s "$tar" ]; then
        command -v mmdebstrap >/dev/null || apt_install mmdebstrap
        mkdir -p "$CACHE"
        say "no registry image: making a Debian bookworm base with Python 3.11 (mmdebstrap) -> $tar"
        local t0
        t0=$(now)
        as_root mmdebstrap --quiet --format=tar "${MMDEBSTRAP_ARGS[@]}" "$tar.part" >&2
        mv "$tar.part" "$tar"
        find "$CACHE" -maxdepth 1 -name 'debian-bookworm-python3.11-*.tar' ! -path "$tar" -delete
        say "base made in $(($(now) - t0)) s"
    fi
    printf '%s' "$tar"
}

import_base() {
    local tar=$1 ctr
    say "importing $tar as $LOCAL_BASE"
    case $ENGINE in
        buildah)
            ctr=$(buildah from scratch)
            buildah add "$ctr" "$tar" / >/dev/null
            buildah commit --quiet --rm "$ctr" "$LOCAL_BASE" >/dev/null
            ;;
        *) engine import --quiet "$tar" "$LOCAL_BASE" >/dev/null ;;
    esac
}

# BASE_IMAGE when present or pullable; otherwise the local Debian base (made or imported if missing).
resolve_base() {
    if has_image "$BASE_IMAGE"; then
        printf '%s' "$BASE_IMAGE"
        return
    fi
    if [ "$BASE_IMAGE" != "$LOCAL_BASE" ] && timeout 120 "$ENGINE" pull -q "$BASE_IMAGE" >/dev/null 2>&1; then
        printf '%s' "$BASE_IMAGE"
        return
    fi
    say "cannot pull $BASE_IMAGE: using the local base $LOCAL_BASE"
    has_image "$LOCAL_BASE" || import_base "$(local_base_tar)"
    printf '%s' "$LOCAL_BASE"
}

image_size() {
    case $ENGINE in
        buildah) buildah images --format '{{.Size}}' "$IMAGE" ;;
        *) engine image inspect --format '{{.Size}}' "$IMAGE" | awk '{ printf "%.0f MB", $1 / 1e6 }' ;;
    esac
}

cmd_build() {
    local t0 base ca args version
    t0=$(now)
    base=$(resolve_base)
    version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/pyproject.toml")
    args=(-f deploy/docker/Dockerfile --build-arg "BASE_IMAGE=$base" --build-arg "VERSION=$version" -t "$IMAGE"
        --label "org.opencontainers.image.revision=$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)"
        --label "org.opencontainers.image.created=$(date -u +%Y-%m-%dT%H:%M:%SZ)")
    ca=${CRMFLOW_CA_BUNDLE:-${PIP_CERT:-}}
    [ -n "$ca" ] && [ -f "$ca" ] && args+=(--secret "id=ca-bundle,src=$ca")
    case $ENGINE in
        # HEALTHCHECK is a Docker-format field: OCI images drop it.
        podman | buildah)
            args+=(--isolation chroot --format docker --ignorefile deploy/docker/Dockerfile.dockerignore) ;;
    esac
    say "building $IMAGE with $ENGINE (base $base)"
    cd "$ROOT"
    case $ENGINE in
        docker) DOCKER_BUILDKIT=1 docker build "${args[@]}" . ;;
        *) engine build "${args[@]}" . ;;
    esac
    say "built $IMAGE: $(image_size) (target < 250 MB), in $(($(now) - t0)) s"
}

case ${1:-build} in
    build) cmd_build ;;
    engine) printf '%s\n' "$ENGINE" ;;
    service)
        [ "$ENGINE" = podman ] || die "service: the engine is $ENGINE, not podman"
        exec podman "${PODMAN_FLAGS[@]}" system service --time=0 "${2:?usage: $0 service unix:///PATH.sock}"
        ;;
    *) die "usage: $0 [build|engine|service URL]" ;;
esac
