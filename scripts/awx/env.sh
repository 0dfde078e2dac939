# shellcheck shell=bash
# Shared locations of the local AWX (sourced by the scripts of scripts/awx/).
AWX_TOP="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export AWX_TOP
export AWX_VERSION=24.6.1 DAB_VERSION=2024.7.1 RECEPTOR_VERSION=v1.4.4
export AWX_CACHE="${AWX_CACHE:-$HOME/.cache/servicemesh-federation-awx}"
export AWX_STATE="${AWX_STATE:-$AWX_TOP/.awx}"
export AWX_VENDOR="${AWX_VENDOR:-$(cd "$AWX_TOP/.." && pwd)/shared/vendor}"
export AWX_VENV="$AWX_CACHE/venv"
export AWX_BASE_IMAGE=localhost/servicemesh-federation-awx-base:bookworm
export AWX_EE_REPO=localhost/servicemesh-federation-ee
export AWX_CONTROL_EE_REPO=localhost/servicemesh-federation-control-ee
# awx_ee_pin ansible_core|ansible_runner: that pip requirement of the EE definition.
awx_ee_pin() {
  "$AWX_TOP/.venv/bin/python" -c 'import sys, yaml
print(yaml.safe_load(open(sys.argv[1]))["dependencies"][sys.argv[2]]["package_pip"])' \
    "$AWX_TOP/extensions/awx/execution-environment.yml" "$1"
}
# The control-plane EE's ansible-core (build-control-ee.sh): before 2.19, as AWX 24.6.1's awx-ee.
export AWX_CONTROL_ANSIBLE_CORE=2.17.14
# podman: its own config and image storage in the cache (root here lacks CAP_SYS_RESOURCE and
# cgroups are hybrid: runc and explicit ulimits, see containers.conf).
export CONTAINERS_CONF="$AWX_CACHE/containers/containers.conf"
export CONTAINERS_STORAGE_CONF="$AWX_CACHE/containers/storage.conf"
mkdir -p "$AWX_CACHE/containers"
if [ ! -f "$CONTAINERS_CONF" ]; then
  cat > "$CONTAINERS_CONF" <<'EOF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
EOF
fi
if [ ! -f "$CONTAINERS_STORAGE_CONF" ]; then
  cat > "$CONTAINERS_STORAGE_CONF" <<EOF
[storage]
driver = "overlay"
graphroot = "$AWX_CACHE/containers/storage"
runroot = "$AWX_CACHE/containers/run"
EOF
fi
