#!/usr/bin/env bash
# Installs Arize Phoenix, a local trace viewer (OTLP/gRPC in, a web UI out), into the
# project's .venv-phoenix from PyPI, pinned. Idempotent. Only `./infra/run.sh --trace-viewer`
# needs it: it is large, so nothing else installs it.
set -euo pipefail

PHOENIX_VERSION=20.26.1
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv-phoenix"

if [ -x "$venv/bin/phoenix" ]; then
  installed="$("$venv/bin/pip" show arize-phoenix 2>/dev/null || true)"
  if grep -qx "Version: $PHOENIX_VERSION" <<<"$installed"; then
    exit 0
  fi
fi
echo "installing the Phoenix trace viewer (arize-phoenix==$PHOENIX_VERSION) into $venv" >&2
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "arize-phoenix==$PHOENIX_VERSION"
