#!/usr/bin/env bash
# Builds Warren, starts the daemon on its defaults, and runs an agent in a native sandbox.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then echo "scripts/demo.sh: run as root (the native driver needs it)" >&2; exit 1; fi
if ! command -v busybox >/dev/null || ! dpkg -s libseccomp-dev libcap-dev libsqlite3-dev >/dev/null 2>&1; then
    apt-get update -q && apt-get install -y -q busybox-static libseccomp-dev libcap-dev libsqlite3-dev libarchive-dev pkg-config
fi
swift build -c release
BIN="$(swift build -c release --show-bin-path)"

# A tiny root filesystem for the agent: busybox and a script.
ROOTFS=/var/lib/warren-demo/rootfs
mkdir -p "$ROOTFS/bin" "$ROOTFS/etc" "$ROOTFS/work"
chmod 755 /var/lib/warren-demo
chown 1000:1000 "$ROOTFS/work"   # the id-mapped rootfs shows host uid 1000 as the sandbox's uid 1000
rm -f "$ROOTFS/bin/busybox"; cp "$(command -v busybox)" "$ROOTFS/bin/busybox"
for a in $("$ROOTFS/bin/busybox" --list); do [ "$a" = busybox ] || ln -sf busybox "$ROOTFS/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\nagent:x:1000:1000:agent:/work:/bin/sh\n' > "$ROOTFS/etc/passwd"
printf 'root:x:0:\nagent:x:1000:\n' > "$ROOTFS/etc/group"
cat > "$ROOTFS/bin/agent" <<'AGENT'
#!/bin/sh
echo "agent: I am $(id -un) (uid $(id -u)) on $(hostname)"
echo "agent: network interfaces: $(cut -d: -f1 /proc/net/dev | tail -n +3 | tr -d ' ' | tr '\n' ' ')"
echo "agent: capabilities: $(grep CapEff /proc/self/status | cut -f2)"
if mount -t tmpfs x /tmp 2>/dev/null; then echo "agent: mount worked (unexpected)"; else echo "agent: mount refused, as it should be"; fi
echo "agent: writing my work"; echo "result=42" > /work/result.txt && cat /work/result.txt
AGENT
chmod 755 "$ROOTFS/bin/agent"

if ! "$BIN/warren" version >/dev/null 2>&1; then
    "$BIN/warren" daemon >/var/log/warren-demo.log 2>&1 &
    for _ in $(seq 1 100); do "$BIN/warren" version >/dev/null 2>&1 && break; sleep 0.1; done
fi
"$BIN/warren" info
echo
exec "$BIN/warren" run --rm --rootfs "$ROOTFS" --user agent --memory 256m --pids-limit 64 --timeout 60 -- /bin/agent
