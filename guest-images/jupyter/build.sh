#!/bin/sh
# Builds the warren-jupyter guest image offline from Debian's packages and PyPI:
# Debian bookworm (minbase) with Python, jupyter_server and ipykernel in /opt/jupyter,
# Warren's notebook launcher in /usr/local/bin, and an unprivileged user `agent` (1000).
#
#   guest-images/jupyter/build.sh OUT.tar     an OCI layout tar for `warren image import`
#
# Needs root, mmdebstrap and umoci (Debian packages), pip for python3 on the host, and a
# reachable Debian mirror and PyPI. Takes a few minutes; the result is about 300 MB.
set -eu

out=${1:?usage: build.sh OUT.tar}
here=$(cd "$(dirname "$0")" && pwd)
launcher="$here/../../runtime/notebook/warren-notebook"
mirror=${WARREN_DEBIAN_MIRROR:-http://deb.debian.org/debian}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The wheels come from PyPI through the host's pip (its index, proxy and CAs), for the
# image's Python (bookworm's 3.11); pip inside the image installs them offline.
python3 -m pip download --quiet --dest "$work/wheels" --only-binary=:all: \
    --python-version 3.11 --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux_2_28_x86_64 --platform any jupyter_server ipykernel

mmdebstrap --variant=minbase --quiet \
    --include=python3,python3-venv,ca-certificates \
    --customize-hook='chroot "$1" python3 -m venv /opt/jupyter' \
    --customize-hook="copy-in $work/wheels /tmp" \
    --customize-hook='chroot "$1" env -i PATH=/usr/bin:/bin HOME=/root /opt/jupyter/bin/pip install --quiet --no-cache-dir --no-index --find-links /tmp/wheels jupyter_server ipykernel' \
    --customize-hook='rm -rf "$1"/tmp/wheels' \
    --customize-hook="copy-in $launcher /usr/local/bin" \
    --customize-hook='chroot "$1" useradd --uid 1000 --create-home --shell /bin/bash agent' \
    --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/*' \
    bookworm "$work/rootfs.tar" "$mirror"

umoci init --layout "$work/oci"
umoci new --image "$work/oci:latest"
umoci raw add-layer --image "$work/oci:latest" "$work/rootfs.tar"
umoci config --image "$work/oci:latest" \
    --config.user=1000:1000 \
    --config.workingdir=/home/agent \
    --config.env=PATH=/opt/jupyter/bin:/usr/local/bin:/usr/bin:/bin \
    --config.env=HOME=/home/agent \
    --config.cmd=warren-notebook
tar -C "$work/oci" -cf "$out.partial" .
mv "$out.partial" "$out"
echo "wrote $out"
