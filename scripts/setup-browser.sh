#!/usr/bin/env bash
# Install Debian's chromium for the report screenshot test (tests/integration/test_reports.py),
# when /usr/bin/chromium is missing. Quiet and quick when it is there. Needs root (or sudo).
# Network: Debian's package mirrors only.
set -euo pipefail
[ -x /usr/bin/chromium ] && exit 0
as_root=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup-browser: need root to install chromium" >&2; exit 1; }
  as_root=(sudo)
fi
echo "setup-browser: installing Debian's chromium"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends chromium >/dev/null
/usr/bin/chromium --version
