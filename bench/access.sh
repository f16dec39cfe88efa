#!/usr/bin/env bash
# The benchmarks of access control (issue 20), each against a `relledger serve` of its own
# with an auth file: the server runs as a separate process, so that the clients' work is not
# counted in its time and its resident memory is its own. The script makes a temp dir with
# the auth file and the data dir, starts the server on a free port of 127.0.0.1, runs one
# `relledger bench`, then stops the server and removes the temp dir, whatever happens.
#
#   bench/access.sh fairness   # steady's append latency, alone and beside a flood
#   bench/access.sh soak       # mixed calls for 10 minutes, a report line every minute
#
# Any further arguments go to `relledger bench` as they are; --json among them gives one JSON
# document on stdout. The report lines over time and the server's log go to stderr.
#
# The auth file holds three principals, each with its own token:
# - `steady` and `flood`, writers with the default limits (500 appends/s, a burst of 1,000);
# - `soak`, a writer and subscriber whose limits are raised far past what the server can do
#   (the soak measures the server over time, not the limiter).
#
# Knobs (environment): RELLEDGER_BIN (default: the release build under $CARGO_TARGET_DIR or
# target/), ACCESS_TMP (where the temp dir goes, default /tmp: the disk the server writes to),
# ACCESS_SERVE_ARGS (more arguments for `relledger serve`, such as `--cache-mb 16`);
# fairness: FAIRNESS_CLIENTS (steady's clients, default 4), FAIRNESS_RATE (steady's appends
# per second, default 200), FAIRNESS_FLOOD_CLIENTS (default 32), FAIRNESS_FLOOD_RETRY
# (immediate or retry-info, default immediate), FAIRNESS_SECONDS (per phase, default 10),
# FAIRNESS_ROUNDS (default 3); soak: SOAK_SECONDS (default 600), SOAK_CLIENTS (default 8),
# SOAK_SUBSCRIBERS (default 4), SOAK_REPORT_EVERY (default 60).
set -euo pipefail

cd "$(dirname "$0")/.."

log() { printf 'access.sh: %s\n' "$*" >&2; }

what=${1:-}
case "$what" in
    fairness | soak) shift ;;
    *)
        echo "usage: bench/access.sh fairness|soak [relledger bench arguments]" >&2
        exit 2
        ;;
esac

BIN=${RELLEDGER_BIN:-${CARGO_TARGET_DIR:-target}/release/relledger}
if [ ! -x "$BIN" ]; then
    echo "no $BIN: run cargo build --release first, or set RELLEDGER_BIN" >&2
    exit 2
fi

TMP=$(mktemp -d "${ACCESS_TMP:-/tmp}/relledger-access.XXXXXX")
SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT

AUTH=$TMP/auth.json
token() { "$BIN" token create --auth-file "$AUTH" --name "$1" "${@:2}" 2>/dev/null; }
STEADY=$(token steady --role writer)
FLOOD=$(token flood --role writer)
SOAK=$(token soak --role writer --role subscriber)
jq '(.principals[] | select(.name == "soak")).limits = {
        "appends_per_second": 1000000, "append_burst": 1000000,
        "reads_per_second": 1000000, "read_burst": 1000000, "max_streams": 1000
    }' "$AUTH" >"$TMP/auth.new"
mv "$TMP/auth.new" "$AUTH"
chmod 600 "$AUTH"

# shellcheck disable=SC2086 # ACCESS_SERVE_ARGS is split into arguments on purpose.
"$BIN" serve --listen 127.0.0.1:0 --data-dir "$TMP/data" --auth-file "$AUTH" \
    ${ACCESS_SERVE_ARGS:-} >"$TMP/server.out" 2>"$TMP/server.err" &
SERVER_PID=$!
# The server prints its address on stdout once it listens.
ADDRESS=
for _ in $(seq 1 300); do
    ADDRESS=$(sed -n 's/^relledger listening on //p' "$TMP/server.out")
    [ -n "$ADDRESS" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$TMP/server.err" >&2; exit 1; }
    sleep 0.1
done
[ -n "$ADDRESS" ] || { log "the server did not start"; cat "$TMP/server.err" >&2; exit 1; }
log "server pid $SERVER_PID on $ADDRESS, load average $(cut -d' ' -f1-3 /proc/loadavg)"

case "$what" in
    fairness)
        "$BIN" bench --server "http://$ADDRESS" --workload fairness \
            --token "$STEADY" --flood-token "$FLOOD" \
            --clients "${FAIRNESS_CLIENTS:-4}" --rate "${FAIRNESS_RATE:-200}" \
            --flood-clients "${FAIRNESS_FLOOD_CLIENTS:-32}" \
            --flood-retry "${FAIRNESS_FLOOD_RETRY:-immediate}" \
            --duration "${FAIRNESS_SECONDS:-10}" --rounds "${FAIRNESS_ROUNDS:-3}" "$@"
        ;;
    soak)
        "$BIN" bench --server "http://$ADDRESS" --server-pid "$SERVER_PID" --workload mixed \
            --token "$SOAK" --clients "${SOAK_CLIENTS:-8}" \
            --subscribers "${SOAK_SUBSCRIBERS:-4}" --duration "${SOAK_SECONDS:-600}" \
            --report-every "${SOAK_REPORT_EVERY:-60}" "$@"
        ;;
esac
log "done, load average $(cut -d' ' -f1-3 /proc/loadavg)"
