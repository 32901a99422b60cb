#!/usr/bin/env bash
# Runs every test: unit, integration (SQLite, and PostgreSQL when TEST_DATABASE_URL is set)
# and end-to-end against a real Temporal dev server.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
"$root/infra/install-temporal.sh"
# The external-provider test runs a real OpenID provider (npm oidc-provider, pinned by the lock).
if ! [ -d "$root/tests/oidc/node_modules/oidc-provider" ]; then
  npm ci --prefix "$root/tests/oidc" --no-audit --no-fund
fi

# The fault tests run the real binaries as processes.
cargo build --workspace --bins

if [ -n "${TEST_DATABASE_URL:-}" ]; then
  # The PostgreSQL variants are #[ignore]d by default (reported as skipped); run them here.
  exec cargo test --workspace "$@" -- --include-ignored
else
  echo "TEST_DATABASE_URL is not set: PostgreSQL tests will be reported as ignored" >&2
  exec cargo test --workspace "$@"
fi
