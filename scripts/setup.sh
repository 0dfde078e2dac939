#!/usr/bin/env bash
# Set up everything the collection, the lab and the tests need, on a fresh machine:
# a Python virtual environment (.venv), the kubernetes.core and awx.awx collections (.collections),
# this collection linked into the collections path, and the lab's Go builds.
# Safe to re-run: each step is skipped when already done, and a done setup takes about a second.
# Network: PyPI and the Go module proxy only.
set -euo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
cd "$top"
PYTHON="${PYTHON:-python3}"
ANSIBLE_BUNDLE_VERSION=12.3.0   # the PyPI "ansible" release we take collections from
KUBERNETES_CORE_VERSION=6.2.0   # the kubernetes.core version inside that release
AWX_AWX_VERSION=24.6.1          # the awx.awx version inside that release (= AWX 24.6.1)
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_PROGRESS_BAR=off

fail() { echo "setup: $*" >&2; exit 1; }

# 1. Python environment. ansible-core 2.19 needs Python 3.11 or later on the controller.
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
  || fail "$PYTHON is missing or older than 3.11 (set PYTHON=/path/to/python3.11)"
if ! .venv/bin/python -c 'import sys' 2>/dev/null; then
  rm -rf .venv
  "$PYTHON" -m venv .venv || fail "cannot create .venv (is the venv module / ensurepip installed?)"
  echo "setup: created .venv"
fi
stamp=.venv/.requirements.sha
want="$(cat requirements.txt requirements-test.txt | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing Python requirements into .venv"
  .venv/bin/python -m pip install --quiet -r requirements.txt -r requirements-test.txt
  echo "$want" > "$stamp"
fi

# 2. kubernetes.core (runtime) and awx.awx (lint of extensions/awx/configure.yml against the real
#    module argument specs): no Galaxy server here, so take them from the PyPI "ansible" bundle.
coll=.collections/ansible_collections
collection_version() {  # collection_version NAMESPACE NAME: the installed version, or nothing
  .venv/bin/python -c 'import json,sys; print(json.load(open(sys.argv[1]))["collection_info"]["version"])' \
    "$coll/$1/$2/MANIFEST.json" 2>/dev/null || true
}
extract_collection() {  # extract_collection NAMESPACE NAME VERSION (skipped when installed)
  local ns="$1" name="$2" version="$3" wheels=.cache/wheels have
  [ "$(collection_version "$ns" "$name")" = "$version" ] && return 0
  echo "setup: extracting $ns.$name $version from ansible==$ANSIBLE_BUNDLE_VERSION"
  mkdir -p "$wheels" "$coll/$ns"
  [ -f "$wheels/ansible-${ANSIBLE_BUNDLE_VERSION}-py3-none-any.whl" ] \
    || .venv/bin/python -m pip download --quiet --no-deps -d "$wheels" "ansible==${ANSIBLE_BUNDLE_VERSION}"
  rm -rf "${coll:?}/${ns:?}/${name:?}" "$coll/$ns/$name.tmp"
  .venv/bin/python - "$coll/$ns/$name.tmp" "$wheels/ansible-${ANSIBLE_BUNDLE_VERSION}-py3-none-any.whl" \
    "ansible_collections/$ns/$name/" <<'PY'
import pathlib, sys, zipfile
dest, wheel, prefix = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        if info.filename.startswith(prefix) and not info.is_dir():
            target = dest / info.filename[len(prefix):]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(z.read(info))
PY
  mv "$coll/$ns/$name.tmp" "$coll/$ns/$name"
  have="$(collection_version "$ns" "$name")"
  [ "$have" = "$version" ] \
    || fail "ansible==$ANSIBLE_BUNDLE_VERSION holds $ns.$name $have, expected $version"
}
extract_collection kubernetes core "$KUBERNETES_CORE_VERSION"
extract_collection awx awx "$AWX_AWX_VERSION"

# 3. This repository is the collection servicemesh.federation (re-pointed if the clone moved).
mkdir -p "$coll/servicemesh"
if [ "$(readlink "$coll/servicemesh/federation" 2>/dev/null)" != "$top" ]; then
  ln -sfn "$top" "$coll/servicemesh/federation"
fi

# 4. The lab's control-plane binaries (skipped when the pinned versions are already built).
command -v go >/dev/null || fail "Go is needed to build the lab's kube-apiserver and etcd"
bash tests/lab/scripts/build.sh

# 5. Debian's chromium for the report screenshot test (skipped when /usr/bin/chromium exists).
bash scripts/setup-browser.sh
