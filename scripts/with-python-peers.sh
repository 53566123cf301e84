#!/usr/bin/env bash
# with-python-peers.sh COMMAND [ARG...]
#
# Runs COMMAND with TOKENGATE_TEST_PEERS=1, after making sure that the
# real frameworks two contract examples imitate are installed from
# Debian's packages (as root, or through sudo): Django OAuth Toolkit 1.7
# (python3-django-oauth-toolkit) and FastAPI with uvicorn (python3-fastapi,
# python3-uvicorn, python3-multipart for form bodies); for the migration
# guides' tests (cmd/tokengate/migrate_guides_e2e_test.go) also sqlite3,
# python3-passlib, php-cli and php-laravel-framework (Laravel's own
# BcryptHasher). The differential
# tests in internal/contract (TestDjangoOAuthToolkitDifferential,
# TestFastAPIDifferential) run each real framework on 127.0.0.1 beside
# tokengate's example; with TOKENGATE_TEST_PEERS=1 they fail instead of
# skipping when a framework cannot run. `make test` uses this script.
set -euo pipefail
export PATH=$PATH:/usr/sbin:/sbin

log() { echo "with-python-peers: $*" >&2; }

# Debian's packages are the system interpreter's, whatever python3 comes
# first in PATH (pyenv, a venv).
PY=/usr/bin/python3

if [[ $# -eq 0 ]]; then
	echo "usage: $0 COMMAND [ARG...]" >&2
	exit 2
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

have_peers() {
	"$PY" -c 'import oauth2_provider, django, fastapi, uvicorn, multipart, passlib' 2>/dev/null &&
		command -v sqlite3 >/dev/null && command -v php >/dev/null &&
		[[ -f /usr/share/php/Illuminate/Hashing/autoload.php ]]
}

if ! have_peers; then
	log "installing Django OAuth Toolkit, FastAPI, uvicorn, passlib, sqlite3, PHP and Laravel from Debian's packages"
	as_root apt-get update -q
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3 \
		python3-django-oauth-toolkit python3-fastapi python3-uvicorn python3-multipart \
		python3-passlib sqlite3 php-cli php-laravel-framework
	have_peers || { log "packages installed but python3 cannot import them (or sqlite3, php, Laravel are missing)"; exit 1; }
fi
log "using Django OAuth Toolkit $("$PY" -c 'import oauth2_provider; print(oauth2_provider.__version__)'), FastAPI $("$PY" -c 'import fastapi; print(fastapi.__version__)')"
export TOKENGATE_TEST_PEERS=1 TOKENGATE_PEER_PYTHON=$PY
exec "$@"
