#!/usr/bin/env bash
# `make test` stage "awx": the AWX / Automation Platform extensions (extensions/awx), offline.
#  1. ansible-builder create on execution-environment.yml (no image is built: the base image's
#     registry is out of reach) and checks of the generated build context: the Containerfile
#     names the base image, pins ansible-core / ansible-runner, installs the Python requirements,
#     copies the collection requirements and this collection's tarball, which _build/ holds.
#  2. configure.yml: every awx.awx task's arguments against the modules' real argument specs
#     (scripts/awx_configure_check.py), then ansible-lint with its args rule enabled, strict.
set -euo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
cd "$top"
export PATH="$top/.venv/bin:$PATH" ANSIBLE_CONFIG="$top/ansible.cfg" NO_COLOR=1
export ANSIBLE_LINT_SKIP_SCHEMA_UPDATE=1
PY="$top/.venv/bin/python"

[ -d .collections/ansible_collections/awx/awx ] \
  || { echo "awx.awx is missing from .collections: run scripts/setup.sh" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "== execution environment: ansible-builder create"
# The EE file names its inputs relative to itself (../../meta, ../../.build): give it a tree of
# its own with a freshly built collection tarball, so the check never touches .build/.
mkdir -p "$work/tree/extensions" "$work/tree/.build"
cp -r extensions/awx "$work/tree/extensions/"
cp -r meta "$work/tree/"
ansible-galaxy collection build --output-path "$work/tree/.build" . >/dev/null
create=(ansible-builder create -f "$work/tree/extensions/awx/execution-environment.yml"
  -c "$work/context" --output-filename Containerfile)
# Without a network namespace when we may create one: proof that create needs no registry.
if unshare --net true 2>/dev/null; then
  unshare --net "${create[@]}" >/dev/null
  echo "ansible-builder create: done without network access"
else
  "${create[@]}" >/dev/null
  echo "ansible-builder create: done"
fi

"$PY" - "$work/context" "$work/tree" <<'PY'
import json, pathlib, re, sys, tarfile
import yaml

context, tree = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
top = pathlib.Path.cwd()
failures = []

def check(ok, what):
    print(("ok: " if ok else "FAILED: ") + what)
    if not ok:
        failures.append(what)

ee = yaml.safe_load((top / "extensions/awx/execution-environment.yml").read_text())
galaxy = yaml.safe_load((top / "galaxy.yml").read_text())
reqs = yaml.safe_load((top / "extensions/awx/requirements.yml").read_text())
containerfile = context / "Containerfile"
check(containerfile.is_file(), "Containerfile generated")
text = containerfile.read_text() if containerfile.is_file() else ""
build = context / "_build"

base = ee["images"]["base_image"]["name"]
check(f'ARG EE_BASE_IMAGE="{base}"' in text and "FROM $EE_BASE_IMAGE AS base" in text,
      f"Containerfile builds on the base image {base}")

pins = {line.split("==")[0]: line for line in (top / "requirements.txt").read_text().split()
        if "==" in line}
core = ee["dependencies"]["ansible_core"]["package_pip"]
runner = ee["dependencies"]["ansible_runner"]["package_pip"]
check(core == pins["ansible-core"], f"EE ansible-core {core} = requirements.txt {pins['ansible-core']}")
refs = re.search(r'^ARG ANSIBLE_INSTALL_REFS="([^"]*)"', text, re.M)
check(bool(refs) and refs.group(1).split() == [core, runner]
      and "RUN $PYCMD -m pip install --no-cache-dir $ANSIBLE_INSTALL_REFS" in text,
      f"Containerfile installs {core} and {runner}")

ee_reqs = (top / "meta/ee-requirements.txt").read_text()
check((build / "requirements.txt").is_file()
      and (build / "requirements.txt").read_text() == ee_reqs,
      "_build/requirements.txt is meta/ee-requirements.txt")
check("COPY _build/requirements.txt requirements.txt" in text
      and re.search(r"introspect\.py introspect .*--user-pip=requirements\.txt", text) is not None
      and "RUN /output/scripts/assemble" in text,
      "Containerfile installs the Python requirements (introspect --user-pip, assemble)")

check((build / "requirements.yml").is_file()
      and yaml.safe_load((build / "requirements.yml").read_text()) == reqs,
      "_build/requirements.yml is extensions/awx/requirements.yml")
check("COPY _build /build" in text and re.search(
      r"ansible-galaxy collection install .*-r requirements\.yml", text) is not None,
      "Containerfile copies the build context and installs the collections from requirements.yml")

tarball = f"{galaxy['namespace']}-{galaxy['name']}-{galaxy['version']}.tar.gz"
entries = {c["name"]: c for c in reqs["collections"]}
own = entries.get(f"/build/collections/{tarball}", {})
check(own.get("type") == "file",
      f"requirements.yml installs /build/collections/{tarball} (galaxy.yml version {galaxy['version']})")
copied = build / "collections" / tarball
check(copied.is_file(), f"_build/collections/{tarball} is in the build context")
if copied.is_file():
    with tarfile.open(copied) as tar:
        info = json.load(tar.extractfile("MANIFEST.json"))["collection_info"]
        names = tar.getnames()
    check((info["namespace"], info["name"], info["version"])
          == (galaxy["namespace"], galaxy["name"], galaxy["version"]),
          f"the tarball is {info['namespace']}.{info['name']} {info['version']}")
    check("meta/execution-environment.yml" in names and "meta/ee-requirements.txt" in names,
          "the tarball carries meta/execution-environment.yml for ansible-builder's introspection")

setup = (top / "scripts/setup.sh").read_text()
tested = re.search(r"^KUBERNETES_CORE_VERSION=(\S+)", setup, re.M).group(1)
check(str(entries.get("kubernetes.core", {}).get("version")) == tested,
      f"requirements.yml pins kubernetes.core {tested}, the version the tests use")

if failures:
    sys.exit(f"execution environment: {len(failures)} check(s) failed")
PY

echo "== configure.yml: awx.awx arguments against the modules' argument specs"
"$PY" scripts/awx_configure_check.py

echo "== configure.yml: ansible-lint (production profile, args rule enabled, strict)"
ansible-lint -q --offline --profile production --enable-list args --strict \
  extensions/awx/configure.yml extensions/awx/execution-environment.yml
echo "ansible-lint: clean"
