#!/usr/bin/env bash
# The full test suite: unit tests, native sandboxes, a real daemon driven by the real CLI,
# Docker, a registry with skopeo and umoci, Jupyter, the LLM SDKs, the API fuzz.
#
# On a fresh Debian 12 with Swift it installs what the tests need (scripts/test-deps.sh),
# starts dockerd when no engine answers (and stops it after), runs the tests in a process
# group of their own, and ends that whole group — every fixture server and daemon the
# tests started — whatever way the tests end. It never waits forever: the tests get
# WARREN_TEST_TIMEOUT seconds (default 3000), and a test process that has died is not
# waited for past a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then echo "scripts/test.sh: the sandbox tests need root" >&2; exit 1; fi
if [ -d /opt/swift/usr/bin ]; then export PATH="/opt/swift/usr/bin:$PATH"; fi

bash scripts/test-deps.sh

dockerd_pid=""
tests_sid=""
cleanup() {
    if [ -n "$tests_sid" ]; then
        pkill -TERM -s "$tests_sid" 2>/dev/null || true
        sleep 1
        pkill -KILL -s "$tests_sid" 2>/dev/null || true
    fi
    # Sandboxes the tests' daemons left (their monitors run in sessions of their own).
    pkill -KILL -f 'warren-sandbox start --bundle /tmp/warren-' 2>/dev/null || true
    if [ -n "$dockerd_pid" ]; then
        kill "$dockerd_pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.1; done
    fi
}
trap cleanup EXIT

if ! docker version >/dev/null 2>&1; then
    dockerd >/tmp/warren-test-dockerd.log 2>&1 &
    dockerd_pid=$!
    for _ in $(seq 1 60); do docker version >/dev/null 2>&1 && break; sleep 1; done
    docker version >/dev/null || { cat /tmp/warren-test-dockerd.log >&2; echo "scripts/test.sh: dockerd did not start" >&2; exit 1; }
fi

swift build --build-tests

# The tests in a session of their own: SwiftPM and Foundation put each child in a process
# group of its own, but all of them stay in this session.
setsid swift test --skip-build "$@" &
tests_pid=$!
tests_sid=$(ps -o sid= -p "$tests_pid" | tr -d ' ')

limit=${WARREN_TEST_TIMEOUT:-3000}
waited=0
orphaned=0
while kill -0 "$tests_pid" 2>/dev/null; do
    sleep 2
    waited=$((waited + 2))
    if [ "$waited" -ge "$limit" ]; then
        echo "scripts/test.sh: the tests ran past ${limit}s; ending them" >&2
        pkill -TERM -s "$tests_sid" 2>/dev/null || true
        break
    fi
    # `swift test` waits for its test process's output; if that process died, fixtures it
    # left could hold the pipe open for ever.
    if pgrep -s "$tests_sid" -f 'PackageTests.xctest' >/dev/null; then
        orphaned=0
    else
        orphaned=$((orphaned + 2))
        if [ "$orphaned" -ge 60 ]; then
            echo "scripts/test.sh: the test process is gone but swift test still waits; ending it" >&2
            pkill -TERM -s "$tests_sid" 2>/dev/null || true
            break
        fi
    fi
done
status=0
wait "$tests_pid" || status=$?
exit "$status"
