#!/usr/bin/env bash
# Sourced by scripts/image.sh and scripts/compose-test.sh: makes podman usable here and
# offline, idempotently.
#
# - installs podman and what it needs from Debian packages when missing;
# - writes a containers.conf under the cache dir and names it in CONTAINERS_CONF (nothing in
#   /etc changes): runc as the runtime, and default ulimits this machine allows (podman's own
#   defaults ask for more open files than the host's hard limit, and the container fails to
#   start);
# - builds the Debian base image with mmdebstrap (no registry is needed) once, keeps its
#   tarball in the cache dir, and imports it into podman when the image is missing.
#
# The cache dir is $STREAMGATE_CACHE_DIR (default ~/.cache/streamgate); it also holds the
# cargo home and target directory the image's build stage reuses (scripts/image.sh).

STREAMGATE_CACHE_DIR="${STREAMGATE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/streamgate}"
export STREAMGATE_CACHE_DIR
# The Debian release of the base, build and runtime stages; bookworm-security carries
# rustc-web/cargo-web (Rust 1.85 or later), which the build stage compiles with.
DEBIAN_SUITE="${DEBIAN_SUITE:-bookworm}"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
DEBIAN_SECURITY_MIRROR="${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
BASE_IMAGE="${BASE_IMAGE:-localhost/streamgate-debian:$DEBIAN_SUITE}"

ensure_podman() {
    local missing=()
    command -v podman >/dev/null || missing+=(podman)
    command -v runc >/dev/null || missing+=(runc)
    command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
    command -v slirp4netns >/dev/null || missing+=(slirp4netns)
    command -v fuse-overlayfs >/dev/null || missing+=(fuse-overlayfs)
    command -v newuidmap >/dev/null || missing+=(uidmap)
    if ((${#missing[@]})); then
        if ! command -v apt-get >/dev/null; then
            echo "container-env: needs ${missing[*]} (Debian packages) and apt-get is not here" >&2
            return 1
        fi
        echo "container-env: installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    mkdir -p "$STREAMGATE_CACHE_DIR"
    export CONTAINERS_CONF="$STREAMGATE_CACHE_DIR/containers.conf"
    cat >"$CONTAINERS_CONF" <<'CONF'
# Written by scripts/container-env.sh; podman reads it through CONTAINERS_CONF.
[containers]
# At most what this machine's hard limits allow: podman's defaults ask for more and the
# container then fails to start.
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
CONF
}

# The base image: a minimal Debian made by mmdebstrap, imported into podman.
ensure_base_image() {
    if podman image exists "$BASE_IMAGE"; then
        return 0
    fi
    local tarball="$STREAMGATE_CACHE_DIR/debian-$DEBIAN_SUITE-minbase.tar"
    if [[ ! -s "$tarball" ]]; then
        echo "container-env: building the $DEBIAN_SUITE base with mmdebstrap (about a minute)"
        # Documentation, man pages and locales are of no use in an image: about a third less.
        mmdebstrap --variant=minbase --format=tar --quiet \
            --dpkgopt='path-exclude=/usr/share/man/*' \
            --dpkgopt='path-exclude=/usr/share/doc/*' \
            --dpkgopt='path-exclude=/usr/share/locale/*' \
            --dpkgopt='path-include=/usr/share/doc/*/copyright' \
            "$DEBIAN_SUITE" "$tarball.part" \
            "deb $DEBIAN_MIRROR $DEBIAN_SUITE main" \
            "deb $DEBIAN_MIRROR $DEBIAN_SUITE-updates main" \
            "deb $DEBIAN_SECURITY_MIRROR $DEBIAN_SUITE-security main"
        mv "$tarball.part" "$tarball"
    fi
    podman import --quiet "$tarball" "$BASE_IMAGE" >/dev/null || return 1
    echo "container-env: imported $BASE_IMAGE"
}
