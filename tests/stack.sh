# Sourced by tests/walkthrough.sh, tests/supervise.sh, tests/soak.sh, tests/browser/run.sh and
# tests/fuzz/run.sh: starts the README's run command
# (./infra/run.sh) on free loopback ports with its state in a fresh DATA_DIR, waits until it
# says it is running, and defines `stop_stack` (SIGTERM, as Ctrl-C would, then wait).
# Sets: TEMPORAL_PORT TEMPORAL_UI_PORT PAYMENT_PORT PAYMENT_HEALTH_PORT API_PORT *_METRICS_PORT
# DATA_DIR, run_log, run_pid.
# Expects to be sourced from the repository root with `set -euo pipefail`.

# Eight distinct free loopback ports, taken below the kernel's ephemeral range (32768 and up by
# default): the Temporal dev server takes several random free ports from that range as it
# starts (its HTTP API, metrics and internal services), so a port of ours picked there with
# bind(0) could be taken before our process binds it (seen: the payment service's metrics
# port, "Address already in use"). The Rust tests' free_port (tests/lib.rs) does the same.
free_ports() {
  python3 - <<'PY'
import random, socket
ports = []
for port in random.sample(range(20000, 32000), 4000):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
    ports.append(port)
    if len(ports) == 8:
        break
print(*ports)
PY
}
read -r TEMPORAL_PORT TEMPORAL_UI_PORT PAYMENT_PORT API_PORT API_METRICS_PORT WORKER_METRICS_PORT \
  PAYMENT_METRICS_PORT PAYMENT_HEALTH_PORT < <(free_ports)
[ -n "$PAYMENT_HEALTH_PORT" ] || { echo "no eight free loopback ports in 20000-31999" >&2; exit 1; }
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
