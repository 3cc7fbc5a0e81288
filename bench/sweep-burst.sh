#!/usr/bin/env bash
# A burst of due deadlines: seeds N open tickets into a scratch PostgreSQL database,
# starts three replicas whose wall clocks run ten years ahead (libfaketime), so every
# pending sweep is due at once, and prints the pending count each second until none
# is left; then `hotline check`.
#
#   BASE=postgres://USER@HOST:PORT/postgres N=100000 [DAYS=2] bench/sweep-burst.sh
#
# The tickets are spread over the last DAYS days, all still open, so most have a
# deadline ahead of them; ten years on, every one of those is due at the same instant.
#
# Needs psql, libfaketime and a release build (R=target/release/hotline by default).
set -u
R=${R:-target/release/hotline}
BASE=${BASE:?postgres URL of a database to create the scratch database from}
N=${N:-100000}
DB=hotline_sweep_$$
psql -q "$BASE" -c "create database $DB"
URL="${BASE%/*}/$DB"
S=$(mktemp); openssl rand -hex 32 > $S
/usr/bin/time -f "seed: %e s, %M KB max RSS" $R seed --database-url "$URL" --tickets $N --open-fraction 1.0 --days ${DAYS:-2} --log-level warn 2>&1 | tail -3
psql -qtA "$URL" -c "select count(*) from tickets where next_check_at is not null" | sed 's/^/with a next check: /'
psql -qtA "$URL" -c "select count(*) from events where action='WARNING_CHANGED'" | sed 's/^/lights before: /'
OFF=$((3650*86400))
start=$(date +%s.%N)
PIDS=""
for i in 1 2 3; do
  D=$(mktemp -d)
  LD_PRELOAD=${HOTLINE_FAKETIME_LIB:-/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1} FAKETIME="+3650d" FAKETIME_DONT_FAKE_MONOTONIC=1 \
    $R serve --listen 127.0.0.1:0 --data-dir $D --database-url "$URL" --key-hash-secret-file $S --sweep-interval 100ms --log-level warn > /dev/null 2>&1 &
  PIDS="$PIDS $!"
done
while :; do
  left=$(psql -qtA "$URL" -c "select count(*) from tickets where next_check_at is not null and next_check_at <= (extract(epoch from now()) + $OFF)::bigint * 1000000000")
  now=$(date +%s.%N)
  el=$(echo "$now - $start" | bc)
  echo "t=${el}s due=$left"
  [ "$left" = 0 ] && break
  sleep 1
  if [ "$(echo "$el > 300" | bc)" = 1 ]; then echo "gave up"; break; fi
done
for p in $PIDS; do grep VmHWM /proc/$p/status; kill $p; done
psql -qtA "$URL" -c "select count(*) from events where action='WARNING_CHANGED'" | sed 's/^/lights after: /'
psql -qtA "$URL" -c "select count(*) from (select ticket_id, (event::jsonb)->'kind' k from events where action='WARNING_CHANGED' group by 1, 2 having count(*) > 1) d" | sed 's/^/the same light lit twice on one ticket: /'
psql -qtA "$URL" -c "select count(*) from events" | sed "s/^/events in the database: /"
$R check --database-url "$URL" --json | python3 -c "import json,sys; d=json.load(sys.stdin); print('check:', d['ok'], d['tickets'], 'tickets', d['events'], 'events', len(d['breaks']), 'breaks', len(d['projection_mismatches']), 'mismatches', len(d['row_problems']), 'row problems')"
psql -q "$BASE" -c "drop database $DB with (force)"
