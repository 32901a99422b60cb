#!/usr/bin/env bash
# The run command keeps the stack up when one part dies: starts ./infra/run.sh on free ports
# (tests/stack.sh), SIGKILLs the worker, then the payment service, then the API, and checks
# after each kill that the others keep answering (a call made while the worker is down is
# answered 201 or 202), that the killed process comes back by itself within 5 s (a new pid
# that serves) and that the restart is logged in its log and on the terminal; then completes
# every delivery made meanwhile, waits for each to be settled and runs the invariant checker
# (delivery-check must exit 0). Ends with a Ctrl-C (SIGINT to the run command's process group,
# as a terminal sends it): the run command must stop cleanly and leave no process behind.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# Job control: the run command gets a process group of its own, with SIGINT not ignored (a
# script's background jobs ignore it otherwise), so the Ctrl-C below is a terminal's.
set -m
source tests/stack.sh
log="$run_log"
api="http://127.0.0.1:$API_PORT"
profile="${BUILD_PROFILE:-release}"
bin="$root/target/$([ "$profile" = dev ] && echo debug || echo "$profile")"

passed=0 failed=0
pass() { passed=$((passed + 1)); echo "ok: $*"; }
fail() { failed=$((failed + 1)); echo "FAILED: $*" >&2; }
check() { # description, command...: passes when the command succeeds
  local what="$1"
  shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}

# The processes of this stack (their environment names its DATA_DIR, which the run command
# passes on to everything it starts), as "pid name" lines, leaving out this script and the
# shells it runs this from.
stack_procs() {
  python3 - "$DATA_DIR" <<'PY'
import os, sys
mark = b"\0DATA_DIR=" + sys.argv[1].encode() + b"\0"
mine, pid = set(), os.getpid()
while pid > 1:
    mine.add(pid)
    with open(f"/proc/{pid}/stat") as f:
        pid = int(f.read().rsplit(")", 1)[1].split()[1])
for entry in os.listdir("/proc"):
    if not entry.isdigit() or int(entry) in mine:
        continue
    try:
        with open(f"/proc/{entry}/environ", "rb") as f:
            env = b"\0" + f.read() + b"\0"
        with open(f"/proc/{entry}/comm") as f:
            name = f.read().strip()
    except OSError:
        continue
    if mark in env:
        print(entry, name)
PY
}
pid_of() { stack_procs | awk -v name="$1" '$2 == name { print $1 }'; }

now_ms() { echo $((${EPOCHREALTIME/./} / 1000)); }
# Polls COMMAND... every 0.2 s until it succeeds or SECS have passed.
within() { # secs, command...
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}
answers() { curl -sf -o /dev/null --max-time 5 "$1"; }
api_up() { answers "$api/healthz"; }
worker_up() { answers "http://127.0.0.1:$WORKER_METRICS_PORT/readyz"; }
payment_up() {
  answers "http://127.0.0.1:$PAYMENT_METRICS_PORT/metrics" \
    && bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$PAYMENT_PORT"
}
temporal_up() {
  "$root/.venv/bin/temporal" operator namespace describe --address "127.0.0.1:$TEMPORAL_PORT" -n default \
    >/dev/null 2>&1
}

token() { # account id
  curl -sf -d grant_type=password -d username="$1" -d password="demo-$1" "$api/oauth/token" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])'
}
R1="$(token r-1)"
RIDER7="$(token rider-7)"

ids=()
# Calls a rider as r-1; passes when the answer is 201 or 202 and records the delivery.
call() { # description
  local body code
  body="$(curl -s --max-time 30 -w '\n%{http_code}' -X POST "$api/deliveries" \
    -H "Authorization: Bearer $R1" -H 'content-type: application/json' \
    -d '{"destination":"Seoul, Jung-gu, Sejong-daero 110","cost":12000}')" || true
  code="${body##*$'\n'}"
  if [ "$code" = 201 ] || [ "$code" = 202 ]; then
    ids+=("$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["deliveryId"])' "${body%$'\n'*}")")
    pass "$1 answered $code"
  else
    fail "$1 answered ${code:-nothing}: ${body%$'\n'*}"
  fi
}

# Prints "pid ms" once NAME runs as a pid other than OLD that serves (UP), ms after KILLED_AT;
# prints nothing if that takes more than 5 s.
watch_return() { # name, old pid, up-check, killed_at (ms)
  local new
  while [ "$(now_ms)" -le $(($4 + 5000)) ]; do
    new="$(pid_of "$1")"
    if [ -n "$new" ] && [ "$new" != "$2" ] && "$3" >/dev/null 2>&1; then
      echo "$new $(($(now_ms) - $4))"
      return
    fi
    sleep 0.2
  done
}

# Kills NAME with SIGKILL, checks that the other parts (OTHERS: up-check functions) keep
# answering while it is down after running DURING (if any) at once, meanwhile watching that NAME is back
# within 5 s of the kill (a new pid that serves, UP); then that its log and the terminal say
# it was restarted.
kill_and_watch() { # name, log, up-check, during-command, others...
  local name="$1" logfile="$2" up="$3" during="$4" old killed_at watcher new ms
  shift 4
  old="$(pid_of "$name")"
  if [ -z "$old" ] || [ "$(wc -w <<<"$old")" -ne 1 ]; then
    fail "one $name process before the kill (found: ${old:-none})"
    return
  fi
  kill -KILL "$old"
  killed_at=$(now_ms)
  echo "killed $name (pid $old)"
  watch_return "$name" "$old" "$up" "$killed_at" >"$DATA_DIR/back.$name" &
  watcher=$!
  if [ -n "$during" ]; then "$during"; fi
  for other in "$@"; do
    check "${other%_up} answers while $name is down" "$other"
  done
  wait "$watcher" || true
  read -r new ms <"$DATA_DIR/back.$name" || true
  if [ -n "${new:-}" ]; then
    pass "$name is back within 5 s (pid $old -> $new, serving $ms ms after the kill)"
  else
    fail "$name is not back and serving within 5 s of its kill"
  fi
  check "$name's restart is in its log" grep -q "supervise: $name (pid $old) was killed by SIGKILL" "$logfile"
  check "$name's restart is on the terminal" grep -q "supervise: $name (pid $old) was killed by SIGKILL" "$log"
}

call "a call with every part up"
while_worker_down() {
  # The restart comes 1 s after the kill: the call is made before it.
  check "no worker runs when the call is made" test -z "$(pid_of delivery-worker)"
  call "a call while the worker is down"
}
kill_and_watch delivery-worker "$DATA_DIR/logs/worker.log" worker_up while_worker_down api_up payment_up temporal_up
kill_and_watch payment-service "$DATA_DIR/logs/payment.log" payment_up '' api_up worker_up temporal_up
call "a call after the payment service came back"
kill_and_watch delivery-api "$DATA_DIR/logs/api.log" api_up '' worker_up payment_up temporal_up
call "a call after the API came back"

# Every delivery made meanwhile: picked up and completed by rider-7 (retried while the
# workflow is still registering the fee or a part is warming up), then settled.
post_ok() { curl -sf -o /dev/null --max-time 10 -X POST -H "Authorization: Bearer $RIDER7" "$api/deliveries/$1/$2"; }
settled() {
  curl -sf --max-time 5 -H "Authorization: Bearer $R1" "$api/payments/$1" | grep -q '"status":"Settled"'
}
if within 10 api_up; then
  for id in "${ids[@]}"; do
    check "delivery $id picked up" within 30 post_ok "$id" pickup
    check "delivery $id completed" within 30 post_ok "$id" complete
  done
  for id in "${ids[@]}"; do check "delivery $id settled" within 30 settled "$id"; done
else
  fail "the API does not answer: the deliveries cannot be completed"
fi

echo "--- delivery-check"
if env RUST_BACKTRACE=0 TEMPORAL_ADDRESS="127.0.0.1:$TEMPORAL_PORT" \
  PAYMENT_DATABASE_URL="sqlite://$DATA_DIR/payment.db?mode=rwc" \
  READMODEL_DATABASE_URL="sqlite://$DATA_DIR/deliveries.db?mode=rwc" \
  TEMPORAL_CODEC_KEYS_DIR="$DATA_DIR/codec-keys" "$bin/delivery-check"; then
  pass "delivery-check finds every delivery consistent"
else
  fail "delivery-check found a mismatch"
fi

# Ctrl-C: SIGINT to the run command's process group, as the terminal sends it.
echo "--- Ctrl-C"
trap - EXIT
kill -INT -- "-$run_pid" 2>/dev/null || true
stopped_in_time() { ! kill -0 "$run_pid" 2>/dev/null; }
check "the run command exits within 40 s of a Ctrl-C" within 40 stopped_in_time
wait "$run_pid" 2>/dev/null || true
check "the run command stopped cleanly" grep -q "^stopped" "$log"
check "the worker drained on the Ctrl-C" grep -q "worker stopped" "$DATA_DIR/logs/worker.log"
left="$(stack_procs)"
if [ -z "$left" ]; then pass "no process of the stack is left"; else fail "processes left: $(tr '\n' ' ' <<<"$left")"; kill -KILL $(awk '{ print $1 }' <<<"$left") 2>/dev/null || true; fi

if [ "$failed" -eq 0 ]; then
  rm -rf "$DATA_DIR"
else
  echo "--- run command's output"
  tail -n 30 "$log"
  echo "stack logs kept in $DATA_DIR" >&2
fi
echo "supervise: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
