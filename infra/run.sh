#!/usr/bin/env bash
# Runs the whole system locally: the Temporal dev server (Web UI included) with a persistent
# SQLite file, the payment service, the worker and the API, release builds, after migrating their
# databases (`payment-service migrate`, `delivery-api migrate`). Ctrl-C stops everything cleanly.
# State lives in .data/ and survives restarts.
#
# Each process runs under infra/supervise.sh, which restarts it when it dies (after 1 s, longer
# while it keeps dying) and says so in its log and here; the others keep serving meanwhile.
# A small supervisor of our own rather than supervisord: supervise.sh says why.
#
#   ./infra/run.sh                  the system
#   ./infra/run.sh --trace-viewer   the system and a local trace viewer (Arize Phoenix, installed
#                                   on first use), with every service sending it its spans
#
# Ports and state (override with the variables): TEMPORAL_PORT=7233 TEMPORAL_UI_PORT=8233
# PAYMENT_PORT=50051 PAYMENT_HEALTH_PORT=50052 API_PORT=8080 DATA_DIR=.data (the payment
# service's mutual-TLS certificates are generated into $DATA_DIR/pki on first start); Prometheus
# endpoints API_METRICS_PORT=9101 WORKER_METRICS_PORT=9102 PAYMENT_METRICS_PORT=9103; trace
# viewer PHOENIX_PORT=6006 (UI) PHOENIX_GRPC_PORT=4317 (OTLP). OTEL_EXPORTER_OTLP_ENDPOINT sends
# spans to a collector of your own instead. BUILD_PROFILE=dev runs debug builds instead of release ones (CI does, to
# reuse the build its tests made rather than spend most of its time on a release build).
set -euo pipefail

trace_viewer=false
case "${1:-}" in
  "") ;;
  --trace-viewer) trace_viewer=true ;;
  *) echo "usage: $0 [--trace-viewer]" >&2; exit 2 ;;
esac

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
TEMPORAL_PORT="${TEMPORAL_PORT:-7233}"
TEMPORAL_UI_PORT="${TEMPORAL_UI_PORT:-8233}"
PAYMENT_PORT="${PAYMENT_PORT:-50051}"
PAYMENT_HEALTH_PORT="${PAYMENT_HEALTH_PORT:-50052}"
API_PORT="${API_PORT:-8080}"
API_METRICS_PORT="${API_METRICS_PORT:-9101}"
WORKER_METRICS_PORT="${WORKER_METRICS_PORT:-9102}"
PAYMENT_METRICS_PORT="${PAYMENT_METRICS_PORT:-9103}"
PHOENIX_PORT="${PHOENIX_PORT:-6006}"
PHOENIX_GRPC_PORT="${PHOENIX_GRPC_PORT:-4317}"
data="${DATA_DIR:-$root/.data}"
mkdir -p "$data/logs"

"$root/infra/install-temporal.sh"
if $trace_viewer; then "$root/infra/install-phoenix.sh"; fi
profile="${BUILD_PROFILE:-release}"
echo "building ($profile)..."
cargo build --profile "$profile" --workspace --bins --quiet
# Cargo names the dev profile's directory "debug".
bin="$root/target/$([ "$profile" = dev ] && echo debug || echo "$profile")"

# The supervisors (infra/supervise.sh), in start order.
pids=()
stop() {
  trap - INT TERM HUP EXIT
  echo
  echo "stopping..."
  # Reverse start order: API first (finish requests), worker (drain), payment, Temporal. A
  # supervisor stops its process with SIGTERM and returns once it has exited.
  for (( i=${#pids[@]}-1; i>=0; i-- )); do
    kill -TERM "${pids[$i]}" 2>/dev/null || true
    wait "${pids[$i]}" 2>/dev/null || true
  done
  echo "stopped"
  exit "${1:-0}"
}
trap 'stop 0' INT TERM HUP
trap 'stop $?' EXIT

# supervise NAME LOG COMMAND...: runs COMMAND under infra/supervise.sh, its output appended to
# LOG. The supervisor gets a session of its own, so a Ctrl-C reaches only this script, which
# stops the parts in order (and a dying part is not restarted on the way), and a parent-death
# signal, so it stops its process even when this script is killed outright (SIGKILL).
supervise() {
  local launch=()
  if command -v setsid >/dev/null && command -v setpriv >/dev/null; then
    launch=(setsid -w setpriv --pdeathsig TERM)
  fi
  "${launch[@]}" "$root/infra/supervise.sh" "$@" &
  pids+=($!)
}

wait_for() { # what, command...
  local what="$1"; shift
  for _ in $(seq 1 150); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  echo "$what did not come up; see $data/logs" >&2
  exit 1
}

# One partition per task queue (the dev server's default is 4): with a worker's handful of polls
# spread over four partitions, a task landing in one nobody polled waited seconds to be
# forwarded (measured: 7% of workflow tasks waited 1-5 s at 50 concurrent deliveries, and
# POST /deliveries p99 went from 3.1 s to 1.0 s at that load with one partition).
sa_args=()
# The names and types of workflows::names::SEARCH_ATTRIBUTES.
for sa in DeliveryStatus=Keyword RestaurantId=Keyword RiderId=Keyword DeliveryOverdue=Bool \
  Unassigned=Bool OfferDeclines=Int FailureReason=Keyword Attention=Keyword; do
  sa_args+=(--search-attribute "$sa")
done
: >"$data/logs/temporal.log"
supervise temporal "$data/logs/temporal.log" \
  "$root/.venv/bin/temporal" server start-dev --ip 127.0.0.1 --port "$TEMPORAL_PORT" --ui-port "$TEMPORAL_UI_PORT" \
  --db-filename "$data/temporal.db" --sqlite-pragma journal_mode=WAL --sqlite-pragma synchronous=NORMAL \
  --dynamic-config-value matching.numTaskqueueReadPartitions=1 \
  --dynamic-config-value matching.numTaskqueueWritePartitions=1 \
  --ui-codec-endpoint "http://127.0.0.1:$API_PORT/codec" \
  "${sa_args[@]}" --log-level warn
wait_for "Temporal" "$root/.venv/bin/temporal" operator namespace describe --address "127.0.0.1:$TEMPORAL_PORT" default

export TEMPORAL_ADDRESS="127.0.0.1:$TEMPORAL_PORT"
export PAYMENT_ADDR="127.0.0.1:$PAYMENT_PORT"
export PAYMENT_URL="https://127.0.0.1:$PAYMENT_PORT"
export PAYMENT_HEALTH_ADDR="127.0.0.1:$PAYMENT_HEALTH_PORT"
# The payment service's CA and every party's certificate: generated there on first start.
export PAYMENT_TLS_DIR="${PAYMENT_TLS_DIR:-$data/pki}"
export PAYMENT_DATABASE_URL="${PAYMENT_DATABASE_URL:-sqlite://$data/payment.db?mode=rwc}"
export READMODEL_DATABASE_URL="${READMODEL_DATABASE_URL:-sqlite://$data/deliveries.db?mode=rwc}"
export API_ADDR="127.0.0.1:$API_PORT"
export API_METRICS_ADDR="127.0.0.1:$API_METRICS_PORT"
export WORKER_METRICS_ADDR="127.0.0.1:$WORKER_METRICS_PORT"
export PAYMENT_METRICS_ADDR="127.0.0.1:$PAYMENT_METRICS_PORT"
# Token signing keys: generated under the data directory on first start.
export API_SIGNING_KEYS_DIR="${API_SIGNING_KEYS_DIR:-$data/keys}"
export API_TOKEN_ISSUER="${API_TOKEN_ISSUER:-http://127.0.0.1:$API_PORT}"
# Payload encryption keys, shared by the API and the worker: generated on first start.
export TEMPORAL_CODEC_KEYS_DIR="${TEMPORAL_CODEC_KEYS_DIR:-$data/codec-keys}"
# The Web UI decodes payloads through the API's codec server (--ui-codec-endpoint above), from
# its own origin.
export API_CODEC_CORS_ORIGINS="${API_CODEC_CORS_ORIGINS:-http://127.0.0.1:$TEMPORAL_UI_PORT,http://localhost:$TEMPORAL_UI_PORT}"
# Where the operators' page links each delivery's workflow and the money runs.
export API_TEMPORAL_UI_URL="${API_TEMPORAL_UI_URL:-http://127.0.0.1:$TEMPORAL_UI_PORT}"

if $trace_viewer; then
  : >"$data/logs/phoenix.log"
  supervise phoenix "$data/logs/phoenix.log" env PHOENIX_WORKING_DIR="$data/phoenix" \
    PHOENIX_HOST=127.0.0.1 PHOENIX_PORT="$PHOENIX_PORT" PHOENIX_GRPC_PORT="$PHOENIX_GRPC_PORT" \
    "$root/.venv-phoenix/bin/phoenix" serve
  wait_for "Phoenix" curl -sf "http://127.0.0.1:$PHOENIX_PORT/healthz"
  export OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$PHOENIX_GRPC_PORT"
fi

# Migrations are a one-off step before the services (which refuse an unmigrated database), with
# the services' own settings: the ledger, then the delivery list and dispatch store.
for step in "payment-service:payment" "delivery-api:api"; do
  binary="${step%%:*}" log="$data/logs/${step##*:}.log"
  "$bin/$binary" migrate >"$log" 2>&1 || { cat "$log" >&2; echo "$binary migrate failed" >&2; exit 1; }
done
# The demo accounts (secret = demo-<id>): this local run command is the only place they are
# made; existing ones are left alone.
"$bin/delivery-api" accounts create-demo >>"$data/logs/api.log" 2>&1 \
  || { cat "$data/logs/api.log" >&2; echo "creating the demo accounts failed" >&2; exit 1; }

supervise payment-service "$data/logs/payment.log" "$bin/payment-service"
wait_for "payment service" bash -c "exec 3<>/dev/tcp/127.0.0.1/$PAYMENT_PORT"
: >"$data/logs/worker.log"
supervise delivery-worker "$data/logs/worker.log" "$bin/delivery-worker"
wait_for "worker" curl -sf "http://127.0.0.1:$WORKER_METRICS_PORT/readyz"
supervise delivery-api "$data/logs/api.log" "$bin/delivery-api"
wait_for "API" curl -sf "http://127.0.0.1:$API_PORT/readyz"

traces="${OTEL_EXPORTER_OTLP_ENDPOINT:-not exported (./infra/run.sh --trace-viewer shows them)}"
if $trace_viewer; then traces="http://127.0.0.1:$PHOENIX_PORT (Phoenix trace viewer)"; fi
cat <<MSG

Delivery agency is running:
  API              http://127.0.0.1:$API_PORT   (OpenAPI: /openapi.json)
  Pages            http://127.0.0.1:$API_PORT/restaurant  /rider  /ops (operators' control room)
  Demo accounts    r-1 r-2 (restaurants) rider-7 rider-8 (riders) ops-1 (operator); secret demo-<id>
  Temporal Web UI  http://127.0.0.1:$TEMPORAL_UI_PORT (payloads decoded after an operator's sign-in at http://127.0.0.1:$API_PORT/ops)
  Temporal gRPC    127.0.0.1:$TEMPORAL_PORT
  Payment gRPC     127.0.0.1:$PAYMENT_PORT (mutual TLS, certificates in $PAYMENT_TLS_DIR)
  Metrics          http://127.0.0.1:$API_METRICS_PORT/metrics (API)  :$WORKER_METRICS_PORT (worker)  :$PAYMENT_METRICS_PORT (payment)
  Traces           $traces
  Logs             $data/logs/
A process that dies is restarted (see its log); the others keep serving.
Press Ctrl-C to stop.
MSG
# The supervisors run until stop() ends them; one that exits otherwise was killed.
wait -n "${pids[@]}" || true
echo "a supervisor exited; stopping the rest (see $data/logs)" >&2
exit 1
