#!/usr/bin/env bash
# The full test suite: unit tests, native sandboxes, a real daemon driven by the real CLI.
# Needs root (namespaces, cgroups, id-mapped mounts) and busybox-static + a C compiler.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then echo "scripts/test.sh: the sandbox tests need root" >&2; exit 1; fi
swift build --build-tests
swift test --skip-build
