#!/bin/sh
# Builds the warren-agent guest image from Debian's packages and PyPI: Debian bookworm
# (minbase) with bash, git, python3, ripgrep and procps, the Claude Code and Codex CLIs in
# /opt/agents (on PATH as `claude` and `codex`), an unprivileged user `agent` (1000) and
# a /workspace directory.
#
#   guest-images/agent/build.sh OUT.tar     an OCI layout tar for `warren image import`
#
# The CLIs are native binaries that their vendors publish on PyPI inside Python wheels
# (claude-agent-sdk bundles Claude Code; openai-codex-cli-bin carries Codex). Only the
# binaries and the wheels' licence metadata go into the image, not the Python packages.
# Their versions are pinned below; override them with CLAUDE_AGENT_SDK_VERSION and
# CODEX_CLI_VERSION. Nothing of theirs is in this repository: the image is built, from
# the vendors' published wheels, on the machine that runs this script.
#
# Needs root, mmdebstrap and umoci (Debian packages), pip for python3 on the host, and a
# reachable Debian mirror and PyPI. Takes a few minutes; the result is about 1 GB, most
# of it the two CLIs.
set -eu

CLAUDE_AGENT_SDK_VERSION=${CLAUDE_AGENT_SDK_VERSION:-0.2.189}
CODEX_CLI_VERSION=${CODEX_CLI_VERSION:-0.163.0}

out=${1:?usage: build.sh OUT.tar}
mirror=${WARREN_DEBIAN_MIRROR:-http://deb.debian.org/debian}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The wheels come from PyPI through the host's pip (its index, proxy and CAs). They are
# platform wheels without Python code that matters here, so no dependencies are fetched.
python3 -m pip download --quiet --no-deps --dest "$work/wheels" --only-binary=:all: \
    --platform manylinux_2_17_x86_64 \
    "claude-agent-sdk==$CLAUDE_AGENT_SDK_VERSION" "openai-codex-cli-bin==$CODEX_CLI_VERSION"

# Takes the named members out of a wheel (a zip) into a directory, under their base
# names, keeping the executable bit; fails when one is missing.
extract() {
    python3 - "$@" <<'EOF'
import os, shutil, sys, zipfile
wheel, dest, members = sys.argv[1], sys.argv[2], sys.argv[3:]
os.makedirs(dest, exist_ok=True)
with zipfile.ZipFile(wheel) as z:
    names = set(z.namelist())
    for member in members:
        if member not in names:
            sys.exit(f"{wheel}: no {member}")
        target = os.path.join(dest, os.path.basename(member))
        with z.open(member) as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst)
        mode = (z.getinfo(member).external_attr >> 16) & 0o777
        os.chmod(target, 0o755 if mode & 0o111 else 0o644)
EOF
}

claude_wheel=$(ls "$work"/wheels/claude_agent_sdk-"$CLAUDE_AGENT_SDK_VERSION"-*.whl)
codex_wheel=$(ls "$work"/wheels/openai_codex_cli_bin-"$CODEX_CLI_VERSION"-*.whl)
claude_info="claude_agent_sdk-$CLAUDE_AGENT_SDK_VERSION.dist-info"
codex_info="openai_codex_cli_bin-$CODEX_CLI_VERSION.dist-info"
extract "$claude_wheel" "$work/agents/claude" claude_agent_sdk/_bundled/claude \
    claude_agent_sdk/_bundled/claude.version "$claude_info/licenses/LICENSE" "$claude_info/METADATA"
extract "$codex_wheel" "$work/agents/codex" codex_cli_bin/bin/codex "$codex_info/METADATA"
# The Claude wheel's LICENSE is the SDK's (MIT); Claude Code itself states its own terms.
mv "$work/agents/claude/LICENSE" "$work/agents/claude/LICENSE.claude-agent-sdk"
# Which wheel each binary came from, as `sha256sum` prints it.
(cd "$(dirname "$claude_wheel")" && sha256sum "$(basename "$claude_wheel")") > "$work/agents/claude/SOURCE"
(cd "$(dirname "$codex_wheel")" && sha256sum "$(basename "$codex_wheel")") > "$work/agents/codex/SOURCE"

mmdebstrap --variant=minbase --quiet \
    --include=bash,git,ca-certificates,curl,python3,python3-pip,python3-venv,ripgrep,procps \
    --customize-hook="copy-in $work/agents /opt" \
    --customize-hook='chroot "$1" chown -R root:root /opt/agents' \
    --customize-hook='ln -s /opt/agents/claude/claude "$1"/usr/local/bin/claude' \
    --customize-hook='ln -s /opt/agents/codex/codex "$1"/usr/local/bin/codex' \
    --customize-hook='chroot "$1" groupadd --gid 1000 agent' \
    --customize-hook='chroot "$1" useradd --uid 1000 --gid 1000 --create-home --home-dir /home/agent --shell /bin/bash agent' \
    --customize-hook='chroot "$1" install -d -o agent -g agent -m 0777 /workspace' \
    --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/*' \
    bookworm "$work/rootfs.tar" "$mirror"

umoci init --layout "$work/oci"
umoci new --image "$work/oci:latest"
umoci raw add-layer --image "$work/oci:latest" "$work/rootfs.tar"
umoci config --image "$work/oci:latest" \
    --config.user=0:0 \
    --config.workingdir=/workspace \
    --config.env=PATH=/usr/local/bin:/usr/bin:/bin \
    --config.env=HOME=/root \
    --config.cmd=/bin/bash
tar -C "$work/oci" -cf "$out.partial" .
mv "$out.partial" "$out"
echo "wrote $out"
