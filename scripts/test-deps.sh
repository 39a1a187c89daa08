#!/usr/bin/env bash
# Installs what Warren's build and test suite need from Debian, when it is missing.
# Safe to run again: it installs nothing when everything is there.
set -euo pipefail
packages=(
    build-essential pkg-config libc6-dev libseccomp-dev libcap-dev libarchive-dev libsqlite3-dev
    busybox-static ca-certificates python3 python3-venv python3-pip zstd e2fsprogs util-linux iproute2
    skopeo umoci mmdebstrap docker-registry apache2-utils openssl docker.io iptables git
)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "test-deps: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
