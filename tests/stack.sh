# Sourced by tests/walkthrough.sh, tests/supervise.sh, tests/soak.sh and tests/browser/run.sh: starts the README's run command
# (./infra/run.sh) on free loopback ports with its state in a fresh DATA_DIR, waits until it
# says it is running, and defines `stop_stack` (SIGTERM, as Ctrl-C would, then wait).
# Sets: TEMPORAL_PORT TEMPORAL_UI_PORT PAYMENT_PORT PAYMENT_HEALTH_PORT API_PORT *_METRICS_PORT
# DATA_DIR, run_log, run_pid.
# Expects to be sourced from the repository root with `set -euo pipefail`.

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
TEMPORAL_PORT=$(free_port) TEMPORAL_UI_PORT=$(free_port) PAYMENT_PORT=$(free_port) API_PORT=$(free_port)
API_METRICS_PORT=$(free_port) WORKER_METRICS_PORT=$(free_port) PAYMENT_METRICS_PORT=$(free_port)
PAYMENT_HEALTH_PORT=$(free_port)
DATA_DIR="$(mktemp -d)"
export TEMPORAL_PORT TEMPORAL_UI_PORT PAYMENT_PORT PAYMENT_HEALTH_PORT API_PORT DATA_DIR
export API_METRICS_PORT WORKER_METRICS_PORT PAYMENT_METRICS_PORT
run_log="$DATA_DIR/run.out"

./infra/run.sh >"$run_log" 2>&1 &
run_pid=$!
stop_stack() { kill -TERM "$run_pid" 2>/dev/null || true; wait "$run_pid" 2>/dev/null || true; }
trap stop_stack EXIT

echo "starting the stack with ./infra/run.sh (a build on the first run)..."
for _ in $(seq 1 1800); do
  grep -q "Press Ctrl-C to stop" "$run_log" && break
  kill -0 "$run_pid" 2>/dev/null || { cat "$run_log"; echo "the run command exited early" >&2; exit 1; }
  sleep 1
done
grep -q "Press Ctrl-C to stop" "$run_log" || { cat "$run_log"; echo "the run command did not come up" >&2; exit 1; }
