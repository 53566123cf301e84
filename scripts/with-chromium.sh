#!/usr/bin/env bash
# with-chromium.sh COMMAND [ARG...]
#
# Runs COMMAND with TOKENGATE_TEST_BROWSER=1, after making sure that what the
# real-browser tests in e2e/browser need is installed:
#
#   1. Debian's chromium package (/usr/bin/chromium), installed with apt-get
#      when missing (as root, or through sudo), which chromedp drives headless;
#   2. the npm package oauth4webapi, the strict third-party OpenID Connect
#      client, installed with `npm ci` from the committed package.json and
#      package-lock.json in e2e/browser/testdata/oidcclient into a new
#      temporary directory (TOKENGATE_TEST_NODE_MODULES), removed afterwards.
#
# With TOKENGATE_TEST_BROWSER=1 the browser tests fail instead of skipping
# when Chromium, Node.js or the package cannot run. `make test` uses this
# script. TOKENGATE_SKIP_BROWSER=1 skips all of this: COMMAND runs, the
# browser tests skip themselves, and this script says so.
set -euo pipefail
export PATH=$PATH:/usr/sbin:/sbin

log() { echo "with-chromium: $*" >&2; }

if [[ $# -eq 0 ]]; then
	echo "usage: $0 COMMAND [ARG...]" >&2
	exit 2
fi

if [[ "${TOKENGATE_SKIP_BROWSER:-}" == 1 ]]; then
	log "TOKENGATE_SKIP_BROWSER=1: browser tests are SKIPPED"
	status=0
	"$@" || status=$?
	log "NOTE: browser tests were SKIPPED (TOKENGATE_SKIP_BROWSER=1)"
	exit "$status"
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

CHROMIUM=${TOKENGATE_CHROMIUM:-/usr/bin/chromium}
if [[ ! -x $CHROMIUM ]]; then
	log "$CHROMIUM not found; installing Debian's chromium package"
	as_root apt-get update -q
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
	[[ -x $CHROMIUM ]] || { log "chromium installed but $CHROMIUM is missing"; exit 1; }
fi
log "using $("$CHROMIUM" --version 2>/dev/null)"

command -v node >/dev/null || { log "node not found: the oauth4webapi client test needs Node.js"; exit 1; }
command -v npm >/dev/null || { log "npm not found: it installs oauth4webapi"; exit 1; }

here=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tokengate-node.XXXXXX")
cleanup() {
	local status=$?
	rm -rf "$tmp"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cp "$here/e2e/browser/testdata/oidcclient/package.json" "$here/e2e/browser/testdata/oidcclient/package-lock.json" "$tmp/"
(cd "$tmp" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >&2) ||
	{ log "npm ci of oauth4webapi failed"; exit 1; }
log "using node $(node --version), oauth4webapi $(node -p 'require(process.argv[1]).version' "$tmp/node_modules/oauth4webapi/package.json")"

export TOKENGATE_TEST_BROWSER=1 TOKENGATE_CHROMIUM=$CHROMIUM TOKENGATE_TEST_NODE_MODULES=$tmp/node_modules

# In the background, so that a TERM or INT sent to this script alone stops
# the command and still reaches the clean-up.
"$@" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null; wait "$child"; exit 143' TERM
trap 'kill -INT "$child" 2>/dev/null; wait "$child"; exit 130' INT
status=0
wait "$child" || status=$?
exit "$status"
