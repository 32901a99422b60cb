#!/usr/bin/env bash
# Browser tests of the web pages (the index /, the restaurant console /restaurant, the rider app
# /rider, the operators' control room /ops with axe-core's WCAG 2 A/AA checks, and /docs): starts
# the stack with the README's run command on free ports (as tests/walkthrough.sh does; it
# creates the demo accounts the tests sign in with, secret demo-<id>), runs the Node tests in
# Debian's Chromium against it with API_URL set, then stops the stack with SIGTERM, as Ctrl-C
# would. Exits non-zero when a test fails or the stack does not start or stop cleanly.
#
# Needs: chromium (apt-get install -y --no-install-recommends chromium fonts-liberation) and
# `npm ci --prefix tests/browser`.
# Screenshots go to tests/browser/artifacts/. Extra arguments go to `node --test`
# (e.g. --test-name-pattern=cancel).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
[ -x "$CHROMIUM" ] || { echo "no Chromium at $CHROMIUM: apt-get install -y --no-install-recommends chromium fonts-liberation" >&2; exit 1; }
[ -d "$here/node_modules/playwright-core" ] || { echo "missing playwright-core: npm ci --prefix tests/browser" >&2; exit 1; }

# The payouts and invoices Schedules run every 5 s instead of daily and monthly (the worker
# reads these), so that money.test.js sees a payout and an invoice issued within a test.
export PAYOUT_PERIOD="${PAYOUT_PERIOD:-5s}" INVOICE_PERIOD="${INVOICE_PERIOD:-5s}"
source tests/stack.sh
log="$run_log"
trap 'stop_stack; echo "stack logs kept in $DATA_DIR" >&2' EXIT

rm -rf "$here/artifacts"
mkdir -p "$here/artifacts"
status=0
API_URL="http://127.0.0.1:$API_PORT" node --test --test-reporter=spec --test-concurrency=1 "$@" \
  "$here"/*.test.js || status=$?

stop_stack
trap - EXIT
if ! grep -q "^stopped" "$log"; then
  echo "the stack did not stop cleanly" >&2
  status=1
fi
if [ "$status" -ne 0 ]; then
  for f in "$DATA_DIR"/logs/api.log "$DATA_DIR"/logs/worker.log; do
    echo "--- last lines of $f" >&2
    tail -n 40 "$f" >&2 || true
  done
  echo "browser tests failed; stack logs in $DATA_DIR, screenshots in $here/artifacts" >&2
else
  rm -rf "$DATA_DIR"
  echo "browser tests passed; screenshots in $here/artifacts"
fi
exit "$status"
