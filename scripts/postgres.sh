#!/usr/bin/env bash
# A throwaway PostgreSQL server on loopback for the scale-out tests.
#   postgres.sh start   installs Debian's server package when absent, starts a cluster under
#                       $PORTCULLIS_PG_DIR (default target/pg), trust auth on 127.0.0.1 only
#   postgres.sh url     prints the superuser URL the tests create their databases with
#   postgres.sh stop    stops the server and removes the cluster
set -euo pipefail
cd "$(dirname "$0")/.."

dir=${PORTCULLIS_PG_DIR:-$PWD/target/pg}
port=${PORTCULLIS_PG_PORT:-55432}
# initdb and postgres refuse to run as root, so the cluster belongs to an unprivileged user.
run_as=${PORTCULLIS_PG_USER:-postgres}

bindir() {
    local d
    for d in /usr/lib/postgresql/*/bin; do
        [[ -x $d/pg_ctl ]] && { echo "$d"; return; }
    done
    return 1
}

as_owner() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u "$run_as" -- "$@"
    else
        "$@"
    fi
}

case ${1:-} in
start)
    if ! bindir >/dev/null; then
        echo "postgres.sh: installing postgresql from Debian's packages" >&2
        SUDO=; [[ $(id -u) -ne 0 ]] && SUDO=sudo
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
    fi
    bin=$(bindir)
    [[ $(id -u) -ne 0 ]] && run_as=$(id -un)
    if [[ -f $dir/data/postmaster.pid ]]; then
        as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1 && exit 0
    fi
    rm -rf "$dir"
    mkdir -p "$dir"
    [[ $(id -u) -eq 0 ]] && chown "$run_as" "$dir"
    as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 >"$dir/initdb.log" 2>&1 ||
        { cat "$dir/initdb.log" >&2; exit 1; }
    # Many test servers each hold a small pool; fsync off because the cluster is thrown away.
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -o \
        "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c max_connections=400 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
        start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    echo "postgres.sh: PostgreSQL on 127.0.0.1:$port (data in $dir)" >&2
    ;;
url)
    echo "postgres://postgres@127.0.0.1:$port/postgres"
    ;;
stop)
    if bin=$(bindir) && [[ -f $dir/data/postmaster.pid ]]; then
        [[ $(id -u) -ne 0 ]] && run_as=$(id -un)
        as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
*)
    echo "usage: $0 start|url|stop" >&2
    exit 2
    ;;
esac
