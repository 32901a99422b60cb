#!/usr/bin/env bash
# Runs the README as a user would: the Quick start run command, then the walk-through's
# commands exactly as written (only the ports moved to free ones), and checks what they print.
# Stops the stack with SIGTERM, as Ctrl-C would, and checks that it stops cleanly.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

source tests/stack.sh
log="$run_log"
grep -q "Temporal Web UI  http://127.0.0.1:$TEMPORAL_UI_PORT" "$log"

script="$DATA_DIR/walkthrough.sh"
awk '/<!-- walkthrough:start -->/{on=1; next} /<!-- walkthrough:end -->/{on=0} on && !/^```/' README.md \
  | sed "s/127.0.0.1:8080/127.0.0.1:$API_PORT/g" >"$script"
out="$(cd "$DATA_DIR" && bash -eu "$script")"
echo "$out"

passed=0 failed=0
expect() { # description, fixed string the output must contain
  if grep -qF -- "$2" <<<"$out"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "MISSING: $1 ($2)" >&2; fi
}
expect "call confirmed with payment registered" '"payment":{"status":"Registered","amount":20000}'
expect "call offered to riders" '"calledAt":'
expect "delivery list shows Called" '"status":"Called","riderId":null,"settled":null'
expect "first rider picks up" '"status":"Picked","riderId":"rider-7"'
expect "second rider is too late" '"code":"wrong_state"'
expect "409 for the late rider" ' 409'
expect "403 for the wrong rider" ' 403'
expect "delivery completed" '"status":"Completed","riderId":"rider-7"'
expect "payment settled" '"status":"Settled"'
expect "delivery list shows the settled amount" '"settled":20000'
expect "a cancel voids the payment" '"status":"Cancelled","riderId":null,"payment":{"status":"Voided"'

stop_stack
trap - EXIT
grep -q "^stopped" "$log" || { echo "the run command did not stop cleanly" >&2; failed=$((failed + 1)); }
rm -rf "$DATA_DIR"
echo "walkthrough: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
