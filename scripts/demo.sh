#!/usr/bin/env bash
# Builds Warren, starts the daemon on its defaults, and runs a real agent (Claude Code) in
# a native sandbox on a small git repository: it works on a branch of its own, which
# Warren commits, and never sees a provider key.
#
# With ANTHROPIC_API_KEY in the environment the agent talks to Anthropic (through Warren's
# LLM facade); without one, to the bundled local scripted upstream, which asks it for the
# same tool calls offline. The demo says which.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then echo "scripts/demo.sh: run as root (the native driver needs it)" >&2; exit 1; fi
need=()
for p in libseccomp-dev libcap-dev libsqlite3-dev libarchive-dev pkg-config git mmdebstrap umoci python3-pip ca-certificates; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ "${#need[@]}" -gt 0 ]; then apt-get update -q && apt-get install -y -q --no-install-recommends "${need[@]}"; fi
swift build   # the debug build the test command reuses: one build folder, built once
BIN="$(swift build --show-bin-path)"
DEMO=/var/lib/warren-demo
mkdir -p "$DEMO"

# The model provider: the real one when a key is given, else the local scripted upstream.
if [ -n "${ANTHROPIC_API_KEY:-}" ]; then
    echo "demo: ANTHROPIC_API_KEY is set: the agent talks to Anthropic through Warren's facade"
else
    echo "demo: no ANTHROPIC_API_KEY: the agent talks to the bundled local scripted upstream (Tests/Fixtures/agent-upstream.py)"
    export ANTHROPIC_API_KEY="sk-ant-demo-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    export OPENAI_API_KEY="sk-demo-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    rm -f "$DEMO/upstream.port"
    python3 Tests/Fixtures/agent-upstream.py --port-file "$DEMO/upstream.port" --record "$DEMO/upstream.jsonl" \
        --openai-key "$OPENAI_API_KEY" --anthropic-key "$ANTHROPIC_API_KEY" >"$DEMO/upstream.log" 2>&1 &
    UPSTREAM=$!
    trap 'kill $UPSTREAM 2>/dev/null || true' EXIT
    for _ in $(seq 1 100); do [ -s "$DEMO/upstream.port" ] && break; sleep 0.1; done
    export WARREN_ANTHROPIC_BASE_URL="http://127.0.0.1:$(cat "$DEMO/upstream.port")"
    export WARREN_OPENAI_BASE_URL="$WARREN_ANTHROPIC_BASE_URL"
fi

# The daemon, on its defaults (the keys stay in its environment, never in a sandbox).
if "$BIN/warren" version >/dev/null 2>&1; then
    echo "demo: a daemon already runs on the default socket; it uses its own provider settings"
else
    "$BIN/warren" daemon >/var/log/warren-demo.log 2>&1 &
    for _ in $(seq 1 100); do "$BIN/warren" version >/dev/null 2>&1 && break; sleep 0.1; done
fi

# The agent image: Debian with git and the Claude Code and Codex CLIs, built here once.
if ! "$BIN/warren" image inspect warren-agent:latest >/dev/null 2>&1; then
    [ -s "$DEMO/warren-agent.tar" ] || sh guest-images/agent/build.sh "$DEMO/warren-agent.tar"
    "$BIN/warren" image import --tag warren-agent:latest "$DEMO/warren-agent.tar"
fi

# A small repository; the agent's files will be its owner's (the sudo user's, when there is one).
REPO="$DEMO/repo"
if [ ! -d "$REPO/.git" ]; then
    mkdir -p "$REPO"
    printf '# Demo\n\nA repository an agent works on.\n' > "$REPO/README.md"
    git -C "$REPO" init -q -b main
    git -C "$REPO" add README.md
    git -C "$REPO" -c user.name=demo -c user.email=demo@localhost commit -qm "A README"
    if [ -n "${SUDO_UID:-}" ] && [ "$SUDO_UID" != 0 ]; then chown -R "$SUDO_UID:${SUDO_GID:-$SUDO_UID}" "$DEMO/repo"; fi
fi

echo
"$BIN/warren" agent run --name "demo-$$" --repo "$REPO" --llm-budget-tokens 200000 \
    "write hello.txt: Hello from Claude Code in a Warren sandbox"
echo
"$BIN/warren" agent send "demo-$$" "run: cat hello.txt && ls -la"
echo
echo "demo: the agent's branch, in $REPO (your checkout is untouched):"
git -C "$REPO" -c safe.directory='*' log --oneline --stat "warren/$("$BIN/warren" agent inspect "demo-$$" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"][:12])')" | head -20
"$BIN/warren" agent stop "demo-$$" >/dev/null
"$BIN/warren" agent rm "demo-$$"
