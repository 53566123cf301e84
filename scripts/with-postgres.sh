#!/usr/bin/env bash
# with-postgres.sh COMMAND [ARG...]
#
# Runs COMMAND with TOKENGATE_TEST_POSTGRES set to a throwaway PostgreSQL
# cluster, so that the PostgreSQL store's conformance suite and the
# multi-node end-to-end tests run against a real server (`make test` uses
# this). Steps:
#
#   1. installs PostgreSQL from Debian's packages when no server binaries are
#      found under /usr/lib/postgresql/*/bin (as root, or through sudo);
#   2. creates a cluster in a new temporary directory with initdb, as a
#      non-root user (the package's `postgres` user when run as root);
#   3. starts it on 127.0.0.1 and a free port, with its socket in the
#      temporary directory, and creates the role and database `tokengate`;
#   4. runs COMMAND with TOKENGATE_TEST_POSTGRES=postgres://tokengate@127.0.0.1:PORT/tokengate?sslmode=disable
#      and TOKENGATE_REQUIRE_POSTGRES=1 (the PostgreSQL tests then fail instead of skipping);
#   5. always stops the cluster and removes the directory, however COMMAND ends.
#
# The cluster keeps PostgreSQL's durable defaults (fsync=on,
# synchronous_commit=on), so timings measured against it are honest; only
# initdb runs with --no-sync, which affects nothing but the creation of the
# throwaway data directory.
#
# TOKENGATE_SKIP_POSTGRES=1 skips all of this: COMMAND runs without a
# server and the PostgreSQL tests skip themselves; this script says so. A
# TOKENGATE_TEST_POSTGRES already set is used as it is.
set -euo pipefail
# runuser and useradd live in sbin, which a non-login PATH may lack.
export PATH=$PATH:/usr/sbin:/sbin

log() { echo "with-postgres: $*" >&2; }

if [[ $# -eq 0 ]]; then
	echo "usage: $0 COMMAND [ARG...]" >&2
	exit 2
fi

if [[ "${TOKENGATE_SKIP_POSTGRES:-}" == 1 ]]; then
	log "TOKENGATE_SKIP_POSTGRES=1: PostgreSQL tests are SKIPPED"
	status=0
	"$@" || status=$?
	log "NOTE: PostgreSQL tests were SKIPPED (TOKENGATE_SKIP_POSTGRES=1)"
	exit "$status"
fi

if [[ -n "${TOKENGATE_TEST_POSTGRES:-}" ]]; then
	log "using the server in TOKENGATE_TEST_POSTGRES"
	export TOKENGATE_REQUIRE_POSTGRES=1
	exec "$@"
fi

as_root() {
	if [[ $EUID -eq 0 ]]; then
		"$@"
	elif command -v sudo >/dev/null; then
		sudo -n "$@"
	else
		log "need root (or sudo) to run: $*"
		return 1
	fi
}

pg_bindir() {
	local d
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		if [[ -x $d/initdb && -x $d/pg_ctl && -x $d/postgres ]]; then
			echo "$d"
			return 0
		fi
	done
	return 1
}

if ! bindir=$(pg_bindir); then
	log "PostgreSQL server not found under /usr/lib/postgresql; installing Debian's postgresql package"
	as_root apt-get update -q
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql
	bindir=$(pg_bindir) || { log "postgresql installed but no initdb under /usr/lib/postgresql/*/bin"; exit 1; }
fi
log "using $("$bindir/postgres" --version)"

# The cluster runs as a non-root user: PostgreSQL refuses to run as root.
pguser=$(id -un)
if [[ $EUID -eq 0 ]]; then
	pguser=postgres
	if ! id "$pguser" >/dev/null 2>&1; then
		useradd --system --home-dir /var/lib/postgresql --shell /bin/sh "$pguser"
	fi
fi
as_pg() {
	# From a directory the user can read: initdb and pg_ctl want one.
	if [[ $(id -un) == "$pguser" ]]; then
		(cd "$tmp" && "$@")
	else
		(cd "$tmp" && runuser -u "$pguser" -- "$@")
	fi
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tokengate-pg.XXXXXX")
data=$tmp/data
cleanup() {
	local status=$?
	if [[ -f $data/postmaster.pid ]]; then
		as_pg "$bindir/pg_ctl" -D "$data" -m fast -w -t 30 stop >/dev/null 2>&1 ||
			as_pg "$bindir/pg_ctl" -D "$data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
	fi
	rm -rf "$tmp"
	log "cluster stopped and $tmp removed"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

chown "$pguser" "$tmp"
chmod 700 "$tmp"
as_pg "$bindir/initdb" -D "$data" -U tokengate --auth=trust --no-locale -E UTF8 --no-sync >"$tmp/initdb.log" 2>&1 ||
	{ cat "$tmp/initdb.log" >&2; log "initdb failed"; exit 1; }

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

started=
for attempt in 1 2 3 4 5; do
	port=$((20000 + RANDOM % 30000))
	port_in_use "$port" && continue
	if as_pg "$bindir/pg_ctl" -D "$data" -l "$tmp/server.log" -w -t 60 \
		-o "-p $port -k $tmp -c listen_addresses=127.0.0.1 -c max_connections=300" start >/dev/null; then
		started=1
		break
	fi
	log "start on port $port failed (attempt $attempt)"
	tail -n 5 "$tmp/server.log" >&2 || true
done
if [[ -z $started ]]; then
	log "could not start PostgreSQL"
	exit 1
fi

as_pg "$bindir/psql" -X -q -h 127.0.0.1 -p "$port" -U tokengate -d postgres -v ON_ERROR_STOP=1 \
	-c 'CREATE DATABASE tokengate OWNER tokengate' >/dev/null

export TOKENGATE_TEST_POSTGRES="postgres://tokengate@127.0.0.1:$port/tokengate?sslmode=disable"
# The PostgreSQL tests fail rather than skip when this is set.
export TOKENGATE_REQUIRE_POSTGRES=1
log "PostgreSQL running on 127.0.0.1:$port (data in $data); TOKENGATE_TEST_POSTGRES=$TOKENGATE_TEST_POSTGRES"

# In the background, so that a TERM or INT sent to this script alone stops
# the command and still reaches the clean-up (bash runs traps only between
# foreground commands).
"$@" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null; wait "$child"; exit 143' TERM
trap 'kill -INT "$child" 2>/dev/null; wait "$child"; exit 130' INT
status=0
wait "$child" || status=$?
exit "$status"
