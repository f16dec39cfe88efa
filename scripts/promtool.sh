#!/usr/bin/env bash
# Prints the path of promtool, installing the distribution's `prometheus` package (which has
# it) if it is missing. The test of docs/operations.md's alert rules calls it; a developer can
# too. Installing does not start Prometheus where services are not started (a container).
#
#   scripts/promtool.sh            # prints e.g. /usr/bin/promtool
set -euo pipefail

log() { printf 'promtool.sh: %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

if command -v promtool >/dev/null 2>&1; then
    command -v promtool
    exit 0
fi
log "installing promtool (apt-get install -y --no-install-recommends prometheus)"
if ! apt-cache show prometheus >/dev/null 2>&1; then
    as_root apt-get update -qq
fi
as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends prometheus >/dev/null
hash -r
command -v promtool >/dev/null 2>&1 || { log "no promtool could be installed"; exit 1; }
command -v promtool
