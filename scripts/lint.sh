#!/usr/bin/env bash
# Lint: ruff (Python), then ansible-lint with the production profile (which also runs yamllint
# through its yaml rule, configured by .yamllint). Offline: no Galaxy, no schema refresh.
set -euo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
cd "$top"
export PATH="$top/.venv/bin:$PATH" ANSIBLE_CONFIG="$top/ansible.cfg"
export ANSIBLE_LINT_SKIP_SCHEMA_UPDATE=1 NO_COLOR=1

# scripts/test.sh runs ruff as its own stage first and passes --ansible-lint-only.
if [ "${1:-}" != "--ansible-lint-only" ]; then
  echo "== ruff"
  ruff check --quiet --no-cache .
  echo "ruff: clean"
fi

echo "== ansible-lint (profile production, offline)"
# Auto-detection lints every tracked playbook, role and molecule file; exclusions in .ansible-lint.
ansible-lint -q --offline --profile production
