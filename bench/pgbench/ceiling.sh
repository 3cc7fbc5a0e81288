#!/usr/bin/env bash
# The database ceiling of CreateTicket: pgbench runs the transaction a create
# commits, straight against PostgreSQL, on a scratch database with hotline's
# real schema (made by `hotline migrate`), synchronous_commit on, at several
# client counts, and prints TPS and latency percentiles for each.
#
#   bench/pgbench/ceiling.sh postgres://USER@HOST:PORT/DB
#
# The URL names any database the user may connect to; the script creates
# `hotline_ceiling_<pid>` next to it and drops it at the end. Settings (env):
#   SCRIPT=ceiling   ceiling.sql: the ticket row and its first event only;
#                    create.sql: every statement of a create (number counter,
#                    signature, assignment, event-log lock)
#   CLIENTS="8 16 32"  client counts, one run each
#   DURATION=20        seconds per run
#   THREADS=2          pgbench worker threads
#   RATE=              total transactions per second (pgbench --rate): an open loop,
#                      latency counted from each transaction's scheduled start, as
#                      `hotline bench --rate` counts it; unset: as fast as it goes
#   HOTLINE=target/release/hotline   the binary that runs the migrations
set -euo pipefail

url=${1:?usage: ceiling.sh postgres://USER@HOST:PORT/DB}
here=$(cd "$(dirname "$0")" && pwd)
script=${SCRIPT:-ceiling}
clients=${CLIENTS:-8 16 32}
duration=${DURATION:-20}
threads=${THREADS:-2}
rate=${RATE:-}
hotline=${HOTLINE:-target/release/hotline}
[ -f "$here/$script.sql" ] || { echo "no script $here/$script.sql" >&2; exit 2; }

db=hotline_ceiling_$$
scratch="${url%/*}/$db"
logs=$(mktemp -d)
cleanup() {
    psql -q "$url" -c "drop database if exists $db with (force)" > /dev/null || true
    rm -rf "$logs"
}
trap cleanup EXIT

psql -q "$url" -c "create database $db"
"$hotline" migrate --database-url "$scratch" > /dev/null
psql -q "$scratch" -f "$here/setup.sql"
export PGOPTIONS="-c synchronous_commit=on"
echo "script $script.sql, ${duration}s per run${rate:+, open loop at $rate/s}, server $(psql -qtA "$scratch" -c 'show server_version'), \
synchronous_commit=$(psql -qtA "$scratch" -c 'show synchronous_commit'), load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-8s %10s %9s %9s %9s %9s %9s\n' clients tps p50_ms p90_ms p99_ms p99.9_ms max_ms
for c in $clients; do
    psql -q "$scratch" -c "truncate events, assignments, ticket_stats, stats_backlog, ticket_signatures, \
idempotency, tickets, ticket_numbers" > /dev/null
    psql -q "$scratch" -c "checkpoint" > /dev/null 2>&1 || true
    rm -f "$logs"/run*
    out=$(cd "$logs" && pgbench -n -f "$here/$script.sql" -c "$c" -j "$threads" -T "$duration" \
        ${rate:+--rate "$rate"} --log --log-prefix=run "$scratch" 2>&1) || { echo "$out" >&2; exit 1; }
    tps=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -n 1)
    # Per-transaction log: the third field is the latency in microseconds; with a rate,
    # the seventh is how late the transaction started against its schedule.
    cat "$logs"/run* | awk '{print $3 + (NF >= 7 ? $7 : 0)}' | sort -n | awk -v c="$c" -v tps="$tps" '
        { v[NR] = $1 }
        function q(p) { i = int(p * NR); if (i < 1) i = 1; return v[i] / 1000 }
        END { printf "%-8s %10.1f %9.2f %9.2f %9.2f %9.2f %9.2f\n", c, tps, q(0.5), q(0.9), q(0.99), q(0.999), v[NR] / 1000 }'
done
