#!/usr/bin/env bash
# make awx-up / awx-down / awx-status: a local AWX 24.6.1 beside the lab (docs/awx.md).
#   up      install what is missing (cached in ~/.cache/servicemesh-federation-awx), build the
#           job execution environment when the collection changed and AWX's control-plane EE
#           once, start PostgreSQL, Redis, receptor and AWX (state in <repo>/.awx), return once
#           the API shows capacity and a job ran green;
#   down    stop every process `up` started (their pids are in .awx/pids);
#   status  what runs, and where to log in.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=scripts/awx/env.sh
. "$here/env.sh"
cmd="${1:-}"
py() { "$AWX_VENV/bin/python" "$here/localawx.py" "$@"; }
case "$cmd" in
  up)
    start=$(date +%s)
    bash "$here/install.sh"
    image="$(bash "$here/build-ee.sh")"
    control_image="$(bash "$here/build-control-ee.sh")"
    py up --ee-image "$image" --control-ee-image "$control_image"
    echo "awx: make awx-up took $(( $(date +%s) - start ))s"
    ;;
  down)
    if [ -x "$AWX_VENV/bin/python" ]; then py down; else echo "awx: not installed, nothing runs"; fi
    ;;
  status)
    if [ -x "$AWX_VENV/bin/python" ]; then py status; else echo "awx: not installed"; exit 3; fi
    ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
