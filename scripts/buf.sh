#!/usr/bin/env bash
# Prints the path of buf (the protobuf linter and breaking-change checker), installing the
# pinned version from npm's @bufbuild/buf package (which ships the binary) into a cache dir
# if it is not there yet. .ci/run calls it; a developer can too:
#
#   "$(scripts/buf.sh)" lint proto
set -euo pipefail

VERSION=1.75.0
DIR="${XDG_CACHE_HOME:-$HOME/.cache}/relledger/buf-$VERSION"
BUF="$DIR/node_modules/.bin/buf"

log() { printf 'buf.sh: %s\n' "$*" >&2; }

if [ -x "$BUF" ] && [ "$("$BUF" --version 2>/dev/null)" = "$VERSION" ]; then
    echo "$BUF"
    exit 0
fi
command -v npm >/dev/null 2>&1 || {
    log "installing npm (apt-get install -y npm)"
    if [ "$(id -u)" -eq 0 ]; then apt-get update -qq; else sudo apt-get update -qq; fi
    if [ "$(id -u)" -eq 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null
    else
        sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null
    fi
}
log "installing buf $VERSION (npm install @bufbuild/buf@$VERSION into $DIR)"
mkdir -p "$DIR"
npm install --prefix "$DIR" --silent --no-audit --no-fund "@bufbuild/buf@$VERSION" >&2
[ -x "$BUF" ] || { log "npm installed no buf at $BUF"; exit 1; }
echo "$BUF"
