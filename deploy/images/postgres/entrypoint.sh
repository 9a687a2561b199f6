#!/bin/bash
# Entrypoint of sip-ai-bridge/postgres (see its Containerfile). Runs as postgres (999).
set -euo pipefail
: "${PGDATA:?}"
user="${POSTGRES_USER:-sipai}"
db="${POSTGRES_DB:-sipai}"
listen="${POSTGRES_LISTEN_ADDRESSES:-*}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  [ -n "${POSTGRES_PASSWORD:-}" ] || { echo "postgres: POSTGRES_PASSWORD is required to initialise an empty $PGDATA" >&2; exit 2; }
  [[ "$user" =~ ^[a-z_][a-z0-9_]*$ && "$db" =~ ^[a-z_][a-z0-9_]*$ ]] \
    || { echo "postgres: POSTGRES_USER and POSTGRES_DB must be lower-case identifiers" >&2; exit 2; }
  echo "postgres: initialising $PGDATA" >&2
  pwfile="$(mktemp /run/postgresql/pw.XXXXXX)"
  printf '%s' "$POSTGRES_PASSWORD" >"$pwfile"
  # The superuser is named after the application role, like the official image: one password.
  initdb -D "$PGDATA" -U "$user" --pwfile="$pwfile" --auth-local=scram-sha-256 --auth-host=scram-sha-256 \
    -E UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$pwfile"
  {
    echo "listen_addresses = '$listen'"
    echo "unix_socket_directories = '/run/postgresql'"
    echo "max_connections = ${POSTGRES_MAX_CONNECTIONS:-200}"
  } >>"$PGDATA/postgresql.auto.conf"
  echo "host all all 0.0.0.0/0 scram-sha-256" >>"$PGDATA/pg_hba.conf"
  echo "host all all ::/0 scram-sha-256" >>"$PGDATA/pg_hba.conf"
  # Create the database over the socket only, before anything can reach the TCP port.
  pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
  if [ "$db" != postgres ]; then
    PGPASSWORD="$POSTGRES_PASSWORD" psql -h /run/postgresql -U "$user" -d postgres -v ON_ERROR_STOP=1 -q \
      -c "CREATE DATABASE \"$db\" OWNER \"$user\""
  fi
  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
fi
exec postgres -D "$PGDATA" -c listen_addresses="$listen" "$@"
