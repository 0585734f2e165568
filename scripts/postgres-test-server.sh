#!/usr/bin/env bash
# A private PostgreSQL server for the tests, on a loopback port in a folder of its own.
#
#   scripts/postgres-test-server.sh start DIR   creates (first time) and starts it; prints the
#                                               environment the tests read (eval it)
#   scripts/postgres-test-server.sh stop DIR    stops it (immediately, as a crash would)
#   scripts/postgres-test-server.sh restart DIR starts it again on the same port
#
# The server authenticates with a password (SCRAM) over TCP on 127.0.0.1 only, offers TLS with a
# self-signed certificate (DIR/server.crt, for 127.0.0.1); its user is `zoo`
# with the CREATEDB privilege (each test creates a database of its own). PostgreSQL refuses to
# run as root, so under root the server runs as the `postgres` user Debian's package creates.
set -euo pipefail
command=${1:?usage: postgres-test-server.sh start|stop|restart DIR}
dir=${2:?usage: postgres-test-server.sh start|stop|restart DIR}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bin/pg_ctl" ] || { echo "postgres-test-server.sh: no PostgreSQL server installed (apt-get install postgresql)" >&2; exit 1; }
as_owner=()
[ "$(id -u)" -eq 0 ] && as_owner=(runuser -u postgres --)
pg_ctl() { "${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" "$@"; }
# Loopback only, no fsync (a test server), TLS on.
server_options() { echo "-p $(cat "$dir/port") -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off -c ssl=on -c ssl_cert_file=$dir/server.crt -c ssl_key_file=$dir/server.key"; }

case "$command" in
start)
    if [ ! -d "$dir/data" ]; then
        mkdir -p "$dir"
        port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        password=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
        echo "$port" > "$dir/port"
        echo "$password" > "$dir/password"
        chmod 600 "$dir/password"
        [ "$(id -u)" -eq 0 ] && chown -R postgres "$dir"
        "${as_owner[@]}" bash -c "umask 077; echo '$password' > '$dir/pwfile'"
        "${as_owner[@]}" "$bin/initdb" -D "$dir/data" -U zoo --pwfile="$dir/pwfile" --auth-host=scram-sha-256 \
            --auth-local=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
            || { cat "$dir/initdb.log" >&2; exit 1; }
        # TLS with a self-signed certificate for 127.0.0.1 (server.crt is also the tests' trusted root).
        openssl req -new -x509 -days 7 -nodes -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" \
            -keyout "$dir/server.key" -out "$dir/server.crt" >/dev/null 2>&1
        chmod 600 "$dir/server.key"
        [ "$(id -u)" -eq 0 ] && chown postgres "$dir/server.key" "$dir/server.crt"
    fi
    port=$(cat "$dir/port")
    pg_ctl -o "$(server_options)" -l "$dir/server.log" -w start >/dev/null \
        || { cat "$dir/server.log" >&2; exit 1; }
    echo "export ZOO_TEST_POSTGRES=postgres://zoo@127.0.0.1:$port ZOO_TEST_POSTGRES_DIR=$dir PGPASSWORD=$(cat "$dir/password")"
    ;;
stop)
    pg_ctl -m immediate -w stop >/dev/null
    ;;
restart)
    port=$(cat "$dir/port")
    pg_ctl -o "$(server_options)" -l "$dir/server.log" -w start >/dev/null
    ;;
*)
    echo "postgres-test-server.sh: unknown command '$command' (start, stop, restart)" >&2
    exit 2
    ;;
esac
