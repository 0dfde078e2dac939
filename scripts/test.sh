#!/usr/bin/env bash
# The whole suite (`make test`), cheapest first:
#   ruff + unit tests (stop here on failure), docs current, ansible-lint, the AWX extensions
#   (execution environment build context, configure.yml arguments), ansible-test sanity,
#   lab + integration tests (one pytest session sharing one lab), the molecule scenario and,
#   beside those two, the tests against a real AWX (tests/awx), when `make awx-up` has started
#   one (or, from .ci/run, is starting one in the background).
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
# The AWX stages run in the background (below): stopped with the run, whatever ends it.
awx_pid=
# shellcheck disable=SC2329  # called by on_exit
kill_tree() { local child; for child in $(pgrep -P "$1"); do kill_tree "$child"; done; kill -TERM "$1" 2>/dev/null || true; }
# shellcheck disable=SC2329  # called by the trap
on_exit() {
  [ -z "$awx_pid" ] || kill_tree "$awx_pid"
  stop_new_labs
}
trap on_exit EXIT
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

# The collection through a real AWX (tests/awx), in the background beside lab-integration and
# molecule (its own lab, ip block 200; AWX jobs mostly wait on containers): run after them, it
# would add its 12 minutes to the suite. .ci/run starts `make awx-up` in the background and
# exports AWX_UP_LOCK (held until it ends), AWX_UP_RC and AWX_UP_LOG: wait for it first. By
# hand, the stage runs when `make awx-up` was run before, and is listed as skipped otherwise.
# Its output is printed, and its results listed, once the stages in the foreground are done.
# shellcheck disable=SC2329  # called through stage
awx_up_result() {
  local waited
  waited=$(date +%s)
  flock "${AWX_UP_LOCK:?}" true
  echo "awx-up ended $(( $(date +%s) - waited ))s after awx-real was ready to start; its log's tail:"
  tail -5 "${AWX_UP_LOG:?}"
  return "$(cat "${AWX_UP_RC:?}" 2>/dev/null || echo 1)"
}
awx_stages() {  # in a subshell: its results go to $out/awx.results, its exit code is `failed`
  results=()
  if [ -n "${AWX_UP_LOCK:-}" ]; then
    stage awx-up awx_up_result \
      && stage awx-real "$PY" -m pytest "${pytest_args[@]}" --junitxml="$out/junit/awx-real.xml" tests/awx
  elif bash scripts/awx/awx.sh status >/dev/null 2>&1; then
    stage awx-real "$PY" -m pytest "${pytest_args[@]}" --junitxml="$out/junit/awx-real.xml" tests/awx
  else
    results+=("awx-real: skipped, no local AWX is up (make awx-up)")
  fi
  printf '%s\n' "${results[@]}" > "$out/awx.results"
  return "$failed"
}
rm -f "$out/awx.results"
awx_stages > "$out/awx.log" 2>&1 &
awx_pid=$!

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

echo
echo "=== awx-up, awx-real (beside the stages above; waiting for them)"
wait "$awx_pid" || failed=1
awx_pid=
cat "$out/awx.log"
if [ -s "$out/awx.results" ]; then
  mapfile -t -O "${#results[@]}" results < "$out/awx.results"
else
  results+=("awx-up, awx-real: FAILED, no results (see $out/awx.log)")
  failed=1
fi
finish
