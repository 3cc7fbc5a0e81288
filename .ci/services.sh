#!/usr/bin/env bash
# A throwaway PostgreSQL server for the test suites that need one.
#
# Source it, then start and stop the server; CI does this around the tests:
#
#   source .ci/services.sh
#   hotline_services_start     # exports TEST_DATABASE_URL and HOTLINE_REQUIRE_SERVERS=1
#   cargo test --workspace
#   hotline_services_stop      # stops the server and deletes its data
#
# Or run it: `.ci/services.sh start` prints the `export` lines to paste and the stop
# command (`.ci/services.sh stop DIR`).
#
# The server listens on 127.0.0.1 on a free port, trusts local connections, and keeps
# PostgreSQL's durable defaults (fsync, synchronous_commit). Its binaries come from the
# distribution's `postgresql` package, installed with apt-get when missing. initdb refuses
# to run as root, so as root the server runs as the `postgres` user.

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

# Starts the server; sets HOTLINE_PG_DIR and exports TEST_DATABASE_URL and
# HOTLINE_REQUIRE_SERVERS=1.
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
    export TEST_DATABASE_URL="postgres://hotline@127.0.0.1:$port/hotline_test"
    export HOTLINE_REQUIRE_SERVERS=1
    echo "== PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (data in $dir)" >&2
}

# Stops the server started by hotline_services_start (or the one in DIR) and deletes its data.
hotline_services_stop() {
    local dir="${1:-${HOTLINE_PG_DIR:-}}" bin
    [ -n "$dir" ] && [ -d "$dir/data" ] || return 0
    bin=$(_hotline_pg_bin) || return 1
    _hotline_pg_as "$bin/pg_ctl" -D "$dir/data" -m fast -w stop > /dev/null || true
    rm -rf "$dir"
    unset HOTLINE_PG_DIR TEST_DATABASE_URL HOTLINE_REQUIRE_SERVERS
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
    case "${1:-}" in
        start)
            hotline_services_start
            echo "export TEST_DATABASE_URL=$TEST_DATABASE_URL HOTLINE_REQUIRE_SERVERS=1"
            echo "# stop with: $0 stop $HOTLINE_PG_DIR"
            ;;
        stop) hotline_services_stop "${2:?usage: $0 stop DIR}" ;;
        *) echo "usage: $0 start | stop DIR (or source it)" >&2; exit 2 ;;
    esac
fi
