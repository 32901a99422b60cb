#!/usr/bin/env bash
# The soak, briefly: starts ./infra/run.sh on free ports (tests/stack.sh), runs `loadgen soak`
# against it (deliveries at a fixed rate while a part of the stack is SIGKILLed at random at a
# fixed interval; every delivery must settle and delivery-check must agree, else loadgen exits
# 1), then stops the stack with a Ctrl-C (SIGINT to the run command's process group), which must
# stop it cleanly.
#
#   SOAK_DURATION=1m SOAK_RATE=5 SOAK_KILL_EVERY=15s [SOAK_SEED=N] ./tests/soak.sh
#
# The defaults suit the debug build on 2 cores (CI runs BUILD_PROFILE=dev): three kills in the
# minute, three different parts. The README's 10-minute figures come from
# `loadgen soak --rate 20 --duration 10m --kill-every 30s` against a release build.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

duration="${SOAK_DURATION:-1m}"
rate="${SOAK_RATE:-5}"
kill_every="${SOAK_KILL_EVERY:-15s}"

# Job control: the run command gets a process group of its own, with SIGINT not ignored, so
# the Ctrl-C at the end is a terminal's.
set -m
source tests/stack.sh
profile="${BUILD_PROFILE:-release}"
bin="$root/target/$([ "$profile" = dev ] && echo debug || echo "$profile")"

seed=()
if [ -n "${SOAK_SEED:-}" ]; then seed=(--seed "$SOAK_SEED"); fi
echo "--- loadgen soak --rate $rate --duration $duration --kill-every $kill_every ${seed[*]}"
status=0
LOADGEN_API="http://127.0.0.1:$API_PORT" TEMPORAL_ADDRESS="127.0.0.1:$TEMPORAL_PORT" \
  "$bin/loadgen" --json "$DATA_DIR/soak.json" soak --rate "$rate" --duration "$duration" \
  --kill-every "$kill_every" --data-dir "$DATA_DIR" "${seed[@]}" || status=$?

echo "--- Ctrl-C"
trap - EXIT
kill -INT -- "-$run_pid" 2>/dev/null || true
stopped=false
for _ in $(seq 1 200); do
  if ! kill -0 "$run_pid" 2>/dev/null; then stopped=true; break; fi
  sleep 0.2
done
wait "$run_pid" 2>/dev/null || true
if ! $stopped || ! grep -q "^stopped" "$run_log"; then
  echo "FAILED: the run command did not stop cleanly within 40 s of a Ctrl-C" >&2
  tail -n 30 "$run_log"
  status=1
fi

if [ "$status" -eq 0 ]; then
  rm -rf "$DATA_DIR"
  echo "soak: passed"
else
  echo "--- run command's output"
  tail -n 40 "$run_log"
  echo "soak: FAILED (exit $status); the stack's logs and soak.json are kept in $DATA_DIR" >&2
fi
exit "$status"
