#!/usr/bin/env bash
# Set up everything the collection, the lab and the tests need, on a fresh machine:
# a Python virtual environment (.venv), the kubernetes.core collection (.collections),
# this collection linked into the collections path, and the lab's Go builds.
# Safe to re-run: each step is skipped when already done.
set -euo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
cd "$top"
PYTHON="${PYTHON:-python3}"
ANSIBLE_BUNDLE_VERSION=12.3.0   # the PyPI "ansible" release we take kubernetes.core from

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.requirements.sha
want="$(cat requirements.txt requirements-test.txt | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-test.txt
  echo "$want" > "$stamp"
fi

# kubernetes.core: no Galaxy server here, so take it from the PyPI "ansible" bundle.
coll=.collections/ansible_collections
if [ ! -f "$coll/kubernetes/core/MANIFEST.json" ]; then
  mkdir -p .cache/wheels "$coll"
  .venv/bin/pip download --quiet --disable-pip-version-check --no-deps \
    -d .cache/wheels "ansible==${ANSIBLE_BUNDLE_VERSION}"
  .venv/bin/python - "$coll" .cache/wheels/ansible-${ANSIBLE_BUNDLE_VERSION}-*.whl <<'PY'
import sys, zipfile
dest, wheel = sys.argv[1], sys.argv[2]
prefix = "ansible_collections/kubernetes/core/"
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith(prefix):
            z.extract(name, dest.rsplit("/ansible_collections", 1)[0])
PY
fi
# This repository is the collection servicemesh.federation.
mkdir -p "$coll/servicemesh"
ln -sfn "$top" "$coll/servicemesh/federation"

bash tests/lab/scripts/build.sh
