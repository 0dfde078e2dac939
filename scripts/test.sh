#!/usr/bin/env bash
# The whole suite (`make test`), cheapest first:
#   ruff + unit tests (stop here on failure), docs current, ansible-lint, the AWX extensions
#   (execution environment build context, configure.yml arguments), ansible-test sanity,
#   lab + integration tests (one pytest session sharing one lab), the molecule scenario, the
#   tests against a real AWX (tests/awx), when `make awx-up` has started one (or, from .ci/run,
#   is starting one in the background).
# Exits non-zero when any stage fails; pytest's "no tests collected" (exit 5) is a failure.
# Any lab started during the run is stopped at the end, even on failure or Ctrl-C.
set -uo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
cd "$top" || exit 1
export PATH="$top/.venv/bin:$PATH" ANSIBLE_CONFIG="$top/ansible.cfg" PYTHONDONTWRITEBYTECODE=1
PY="$top/.venv/bin/python"
out="$top/tests/output"
mkdir -p "$out/junit"

# --- labs started by this run are stopped by this run -----------------------------------------
shopt -s nullglob
lab_states() { printf '%s\n' "$top"/.lab*/state.json "${LAB_DIR:-$top/.lab}"/state.json | sort -u; }
labs_before="$(lab_states)"
stop_new_labs() {
  local state dir
  for state in $(lab_states); do
    [ -e "$state" ] || continue
    grep -qxF "$state" <<<"$labs_before" && continue
    dir="$(dirname "$state")"
    echo "stopping lab left running in $dir"
    LAB_DIR="$dir" PYTHONPATH="$top/tests/lab" "$PY" -m lab down >/dev/null 2>&1 \
      || echo "WARNING: could not stop the lab in $dir" >&2
  done
}
trap stop_new_labs EXIT
trap 'exit 130' INT TERM

# --- stages -----------------------------------------------------------------------------------
results=()
failed=0
suite_start=$(date +%s)

# stage NAME COMMAND...: run, time, record the result. pytest stages record their summary line.
stage() {
  local name="$1"; shift
  local start rc log summary
  log="$out/$name.log"
  echo
  echo "=== $name"
  start=$(date +%s)
  "$@" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  # pytest's final line, e.g. "1 failed, 41 passed, 2 skipped in 93.12s (0:01:33)".
  summary="$(grep -E '^(=+ )?(([0-9]+ [a-z]+(, )?)+|no tests ran) in [0-9.]+s' "$log" | tail -1 \
    | sed -E 's/^=+ //; s/ =+$//')"
  if [ "$rc" -eq 5 ] && [ -n "$summary" ]; then
    summary="$summary (no tests collected)"
  fi
  local status=ok
  if [ "$rc" -ne 0 ]; then status="FAILED (exit $rc)"; failed=1; fi
  results+=("$name: $status${summary:+, $summary} [$(( $(date +%s) - start ))s]")
  echo "--- $name: $status"
  return "$rc"
}

pytest_args=(-q -rfEs -p no:cacheprovider)

finish() {
  stop_new_labs
  echo
  echo "=== summary"
  printf '  %s\n' "${results[@]}"
  local verdict=PASSED
  [ "$failed" -eq 0 ] || verdict=FAILED
  echo "make test: $verdict in $(( $(date +%s) - suite_start ))s"
  exit "$failed"
}

# Fast gate: static Python checks and the unit tests.
stage ruff ruff check --no-cache . || finish
stage unit "$PY" -m pytest "${pytest_args[@]}" --junitxml="$out/junit/unit.xml" tests/unit || finish

stage docs "$PY" scripts/gen_module_docs.py --check
stage ansible-lint bash scripts/lint.sh --ansible-lint-only
stage awx bash scripts/awx-check.sh
stage sanity bash scripts/sanity.sh

# Everything that needs the lab: one session, one shared lab (tests/conftest.py fixtures).
lab_tests=(tests/lab/tests tests/integration)
stage lab-integration "$PY" -m pytest "${pytest_args[@]}" --junitxml="$out/junit/lab-integration.xml" \
  "${lab_tests[@]}"

if [ -d extensions/molecule/default ]; then
  stage molecule bash -c 'cd extensions && molecule test -s default'
else
  results+=("molecule: FAILED, extensions/molecule/default is missing")
  failed=1
fi

# The collection through a real AWX (tests/awx). .ci/run starts `make awx-up` in the background
# and exports AWX_UP_LOCK (held until it ends), AWX_UP_RC and AWX_UP_LOG: wait for it here. By
# hand, the stage runs when `make awx-up` was run before, and is listed as skipped otherwise.
# shellcheck disable=SC2329  # called through stage
awx_up_result() {
  local waited
  waited=$(date +%s)
  flock "${AWX_UP_LOCK:?}" true
  echo "awx-up ended $(( $(date +%s) - waited ))s after the other stages; its log's tail:"
  tail -5 "${AWX_UP_LOG:?}"
  return "$(cat "${AWX_UP_RC:?}" 2>/dev/null || echo 1)"
}
if [ -n "${AWX_UP_LOCK:-}" ]; then
  stage awx-up awx_up_result \
    && stage awx-real "$PY" -m pytest "${pytest_args[@]}" --junitxml="$out/junit/awx-real.xml" tests/awx
elif bash scripts/awx/awx.sh status >/dev/null 2>&1; then
  stage awx-real "$PY" -m pytest "${pytest_args[@]}" --junitxml="$out/junit/awx-real.xml" tests/awx
else
  results+=("awx-real: skipped, no local AWX is up (make awx-up)")
fi
finish
