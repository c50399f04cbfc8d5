#!/usr/bin/env bash
# A local PostgreSQL 15 + PostGIS 3 for the store tests: installs the Debian packages when missing,
# starts the cluster, creates the role and database wangge_test with the postgis extension, and prints
# its SQLAlchemy URL on stdout (everything else goes to stderr). Idempotent; fast when all is there.
# Needs root (apt-get, pg_ctlcluster). Usage: url=$(bash scripts/postgis.sh)
set -euo pipefail
VERSION=15
CLUSTER=main
DB=wangge_test
say() { echo "postgis.sh: $*" >&2; }

if [ ! -f "/usr/share/postgresql/$VERSION/extension/postgis.control" ] || ! command -v pg_ctlcluster >/dev/null 2>&1; then
  say "installing postgresql-$VERSION-postgis-3 (Debian packages)"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "postgresql-$VERSION" "postgresql-$VERSION-postgis-3" >&2
fi

if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -qx "$VERSION $CLUSTER"; then
  say "creating cluster $VERSION/$CLUSTER"
  pg_createcluster "$VERSION" "$CLUSTER" >&2
fi
if ! pg_lsclusters -h | awk -v v="$VERSION" -v c="$CLUSTER" '$1==v && $2==c {print $4}' | grep -q online; then
  say "starting cluster $VERSION/$CLUSTER"
  pg_ctlcluster "$VERSION" "$CLUSTER" start >&2
fi
PORT=$(pg_lsclusters -h | awk -v v="$VERSION" -v c="$CLUSTER" '$1==v && $2==c {print $3}')

psql_su() { su postgres -c "psql -p $PORT -v ON_ERROR_STOP=1 -qAt $*"; }
for _ in $(seq 50); do  # the server accepts connections a moment after pg_ctlcluster returns
  psql_su "-c 'select 1'" >/dev/null 2>&1 && break
  sleep 0.1
done
if [ "$(psql_su "-c \"select 1 from pg_roles where rolname = '$DB'\"")" != 1 ]; then
  say "creating role and database $DB"
  psql_su "-c \"create role $DB login password '$DB'\"" >&2
fi
if [ "$(psql_su "-c \"select 1 from pg_database where datname = '$DB'\"")" != 1 ]; then
  psql_su "-c \"create database $DB owner $DB encoding 'UTF8' template template0\"" >&2
fi
psql_su "-d $DB -c 'create extension if not exists postgis'" >&2

echo "postgresql+psycopg://$DB:$DB@127.0.0.1:$PORT/$DB"
