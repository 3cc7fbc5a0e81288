#!/usr/bin/env bash
# A throwaway PostgreSQL server and Redis server for the test suites that need them.
#
# Source it, then start and stop the server; CI does this around the tests:
#
#   source .ci/services.sh
#   hotline_services_start     # exports TEST_DATABASE_URL, TEST_REDIS_URL, HOTLINE_REQUIRE_SERVERS=1
#   cargo test --workspace
#   hotline_services_stop      # stops both servers and deletes their data
#
# Or run it: `.ci/services.sh start` prints the `export` lines to paste and the stop
# command (`.ci/services.sh stop DIR`).
#
# The server listens on 127.0.0.1 on a free port, trusts local connections, and keeps
# PostgreSQL's durable defaults (fsync, synchronous_commit). Its binaries come from the
# distribution's `postgresql` package, installed with apt-get when missing. initdb refuses
# to run as root, so as root the server runs as the `postgres` user.
#
# Redis (the `redis-server` package, installed the same way) listens on 127.0.0.1 on
# another free port, without persistence: it only carries notifications between replicas.

# Picks the newest installed server binaries, installing them if there are none.
_hotline_pg_bin() {
    if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' > /dev/null; then
        echo "== installing postgresql" >&2
        apt-get install -y postgresql >&2 \
            || { apt-get update >&2 && apt-get install -y postgresql >&2; } \
            || return 1
    fi
    local initdb
    initdb=$(printf '%s\n' /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)
    dirname "$initdb"
}

# Runs a command as the server's owner: `postgres` when we are root, else ourselves.
_hotline_pg_as() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# Finds redis-server, installing it if missing.
_hotline_redis_bin() {
    if ! command -v redis-server > /dev/null; then
        echo "== installing redis-server" >&2
        apt-get install -y redis-server >&2 \
            || { apt-get update >&2 && apt-get install -y redis-server >&2; } \
            || return 1
    fi
    command -v redis-server
}

# Finds libfaketime (the clock-jump tests shift servers' wall clocks with it),
# installing the `faketime` package if missing; exports HOTLINE_FAKETIME_LIB.
_hotline_faketime() {
    local lib=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1
    if [ ! -e "$lib" ]; then
        echo "== installing faketime" >&2
        apt-get install -y faketime >&2 \
            || { apt-get update >&2 && apt-get install -y faketime >&2; } \
            || return 1
    fi
    lib=$(printf '%s\n' /usr/lib/*/faketime/libfaketime.so.1 | head -n 1)
    [ -e "$lib" ] || lib=""
    [ -n "$lib" ] || { echo "libfaketime.so.1 not found" >&2; return 1; }
    export HOTLINE_FAKETIME_LIB="$lib"
}

# Starts a Redis server without persistence in DIR; exports TEST_REDIS_URL.
_hotline_redis_start() {
    local dir="$1" bin port try
    bin=$(_hotline_redis_bin) || { echo "no redis-server binary" >&2; return 1; }
    for try in 1 2 3 4 5 6 7 8 9 10; do
        port=$((20000 + RANDOM % 40000))
        if (exec 3<> "/dev/tcp/127.0.0.1/$port") 2> /dev/null; then
            continue
        fi
        "$bin" --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
            --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir" \
            || { port=""; continue; }
        # Daemonized: wait until it answers (or gave up on a taken port).
        for _ in $(seq 50); do
            if (exec 3<> "/dev/tcp/127.0.0.1/$port") 2> /dev/null; then
                break 2
            fi
            sleep 0.1
        done
        port=""
    done
    if [ -z "$port" ]; then
        echo "Redis did not start; log in $dir/redis.log" >&2
        return 1
    fi
    export TEST_REDIS_URL="redis://127.0.0.1:$port/"
    echo "== Redis $("$bin" --version | awk '{print $3}' | cut -d= -f2) on 127.0.0.1:$port" >&2
}

# Starts the servers; sets HOTLINE_PG_DIR and exports HOTLINE_PG_BIN, HOTLINE_FAKETIME_LIB,
# TEST_DATABASE_URL, TEST_REDIS_URL and HOTLINE_REQUIRE_SERVERS=1.
hotline_services_start() {
    local bin dir port try
    bin=$(_hotline_pg_bin) || { echo "no PostgreSQL server binaries" >&2; return 1; }
    dir=$(mktemp -d "${TMPDIR:-/tmp}/hotline-pg.XXXXXX") || return 1
    if [ "$(id -u)" = 0 ]; then
        chown postgres: "$dir" || return 1
    fi
    _hotline_pg_as "$bin/initdb" -D "$dir/data" -U hotline --auth=trust -E UTF8 > "$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; return 1; }
    # A random port, retried if taken: the check and the bind race with other processes.
    for try in 1 2 3 4 5 6 7 8 9 10; do
        port=$((20000 + RANDOM % 40000))
        if (exec 3<> "/dev/tcp/127.0.0.1/$port") 2> /dev/null; then
            continue
        fi
        # Test suites open a pool per case, in parallel: allow plenty of connections.
        if _hotline_pg_as "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
            -o "-h 127.0.0.1 -p $port -k $dir -c max_connections=300" start > /dev/null; then
            break
        fi
        port=""
    done
    if [ -z "$port" ]; then
        echo "PostgreSQL did not start; log in $dir/server.log" >&2
        return 1
    fi
    "$bin/createdb" -h 127.0.0.1 -p "$port" -U hotline hotline_test || return 1
    export HOTLINE_PG_DIR="$dir"
    # Tests that stop and start a cluster of their own use the same binaries.
    export HOTLINE_PG_BIN="$bin"
    _hotline_redis_start "$dir" || return 1
    _hotline_faketime || return 1
    export TEST_DATABASE_URL="postgres://hotline@127.0.0.1:$port/hotline_test"
    export HOTLINE_REQUIRE_SERVERS=1
    echo "== PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (data in $dir)" >&2
}

# Stops the servers started by hotline_services_start (or the ones in DIR) and deletes
# their data.
hotline_services_stop() {
    local dir="${1:-${HOTLINE_PG_DIR:-}}" bin
    [ -n "$dir" ] && [ -d "$dir/data" ] || return 0
    if [ -f "$dir/redis.pid" ]; then
        kill "$(cat "$dir/redis.pid")" 2> /dev/null || true
    fi
    bin=$(_hotline_pg_bin) || return 1
    _hotline_pg_as "$bin/pg_ctl" -D "$dir/data" -m fast -w stop > /dev/null || true
    rm -rf "$dir"
    unset HOTLINE_PG_DIR HOTLINE_PG_BIN HOTLINE_FAKETIME_LIB TEST_DATABASE_URL TEST_REDIS_URL HOTLINE_REQUIRE_SERVERS
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
    case "${1:-}" in
        start)
            hotline_services_start
            echo "export HOTLINE_PG_BIN=$HOTLINE_PG_BIN HOTLINE_FAKETIME_LIB=$HOTLINE_FAKETIME_LIB TEST_DATABASE_URL=$TEST_DATABASE_URL TEST_REDIS_URL=$TEST_REDIS_URL HOTLINE_REQUIRE_SERVERS=1"
            echo "# stop with: $0 stop $HOTLINE_PG_DIR"
            ;;
        stop) hotline_services_stop "${2:?usage: $0 stop DIR}" ;;
        *) echo "usage: $0 start | stop DIR (or source it)" >&2; exit 2 ;;
    esac
fi
