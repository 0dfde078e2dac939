#!/usr/bin/env bash
# Install what a local AWX 24.6.1 needs, once per machine (cached; a done install takes seconds):
#   - Debian packages: podman, runc, debootstrap, PostgreSQL, Redis and the build dependencies;
#   - receptor v1.4.4, built from the Go module proxy (no later version is served);
#   - AWX 24.6.1 and django-ansible-base 2024.7.1 from $AWX_VENDOR (vendor.sh), in their own venv, with
#     the substitutes for AWX's git-only requirements (docs/awx.md, "A real AWX");
#   - a Debian base image (debootstrap + podman import) and the execution environment image
#     (python3, ansible-core, ansible-runner, kubernetes, kubernetes.core, this collection).
# Everything lands in $AWX_CACHE (default ~/.cache/servicemesh-federation-awx), the container
# images in podman's storage under $AWX_CACHE/containers. Nothing else on the machine changes.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=scripts/awx/env.sh
. "$here/env.sh"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_PROGRESS_BAR=off DEBIAN_FRONTEND=noninteractive

log() { echo "awx-install: $*"; }
fail() { echo "awx-install: $*" >&2; exit 1; }
mkdir -p "$AWX_CACHE/bin" "$AWX_CACHE/stamps"

# 0. The AWX sources first: without them nothing else is worth installing.
# shellcheck source=scripts/awx/vendor.sh
. "$here/vendor.sh"
vendor="$(awx_vendor_dir)" || exit 1  # it says what is missing and how to provide it

# 1. Debian packages (apt only when one is missing).
packages=(podman runc debootstrap slirp4netns fuse-overlayfs uidmap postgresql redis-server
  build-essential python3-dev python3-venv pkg-config libldap2-dev libsasl2-dev libxmlsec1-dev
  libxmlsec1-openssl libpq-dev libffi-dev libssl-dev git)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  [ "$(id -u)" = 0 ] || fail "missing Debian packages (${missing[*]}); run as root or install them"
  log "apt-get install ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# 2. receptor v1.4.4 from the Go module proxy (`go install ...@v1.4.4` asks for the version list,
#    which the proxy refuses; downloading the module and building in it works).
build_receptor() {
  command -v go >/dev/null || fail "Go is needed to build receptor"
  log "building receptor $RECEPTOR_VERSION (about 5 min cold)"
  dir="$(GOFLAGS=-mod=mod go mod download -json "github.com/ansible/receptor@$RECEPTOR_VERSION" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
  (cd "$dir" && GOFLAGS=-mod=mod go build -o "$AWX_CACHE/bin/receptor.tmp" \
    -ldflags "-X 'github.com/ansible/receptor/internal/version.Version=${RECEPTOR_VERSION#v}'" ./cmd/receptor-cl)
  mv "$AWX_CACHE/bin/receptor.tmp" "$AWX_CACHE/bin/receptor"
}

# 4. The base image: Debian from the mirror apt uses, with python3 (no registry is reachable).
podman_() { podman "$@"; }
build_base_image() {
  mirror="$(grep -rhoE '^(URIs:|deb) +https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
    | grep -oE 'https?://[^ ]+' | head -1 || true)"
  mirror="${mirror:-http://deb.debian.org/debian}"
  rootfs="$AWX_CACHE/rootfs"
  log "debootstrap bookworm from $mirror (about 1-2 min)"
  # An interrupted debootstrap may leave /proc or /sys mounted inside: never delete through them.
  for m in proc sys dev/pts dev; do umount -l "$rootfs/$m" 2>/dev/null || true; done
  rm -rf --one-file-system "$rootfs"
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates,git \
    bookworm "$rootfs" "$mirror" >"$AWX_CACHE/debootstrap.log" 2>&1 \
    || fail "debootstrap failed, see $AWX_CACHE/debootstrap.log"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb
  tar -C "$rootfs" --one-file-system -c . | podman_ import -q - "$AWX_BASE_IMAGE" >/dev/null
  rm -rf --one-file-system "$rootfs"
}

# 2 and 4 download and build in the background while pip installs AWX (the three take most of a
# cold install); their output goes to logs in the cache.
bg_pids=() bg_logs=()
if [ ! -x "$AWX_CACHE/bin/receptor" ]; then
  (build_receptor) >"$AWX_CACHE/receptor-build.log" 2>&1 &
  bg_pids+=($!) bg_logs+=("$AWX_CACHE/receptor-build.log")
fi
if ! podman_ image exists "$AWX_BASE_IMAGE"; then
  (build_base_image) >"$AWX_CACHE/base-image.log" 2>&1 &
  bg_pids+=($!) bg_logs+=("$AWX_CACHE/base-image.log")
fi

# 3. AWX in its own venv. Its git-only requirements are replaced: ansible-runner 2.4.0,
#    python3-saml 1.16.0, certifi for system-certifi, the vendored django-ansible-base.
venv_rev=2  # bump when the venv's composition below changes
want="$(sha256sum < "$vendor/SHA256SUMS" | cut -d' ' -f1)-$venv_rev"
if [ "$(cat "$AWX_VENV/.installed" 2>/dev/null)" != "$want" ]; then
  log "installing AWX $AWX_VERSION into $AWX_VENV (pip; 5-15 min cold)"
  rm -rf "$AWX_VENV" "$AWX_CACHE/src"
  mkdir -p "$AWX_CACHE/src"
  tar -C "$AWX_CACHE/src" -xzf "$vendor/awx-$AWX_VERSION.tar.gz"
  tar -C "$AWX_CACHE/src" -xzf "$vendor/django-ansible-base-$DAB_VERSION.tar.gz"
  src="$AWX_CACHE/src/awx-$AWX_VERSION"
  # The receptor config path is hard-coded to /etc/receptor; read it from the environment so
  # that the local AWX keeps its receptor config in its own state directory.
  sed -i "s|^__RECEPTOR_CONF = '/etc/receptor/receptor.conf'|__RECEPTOR_CONF = os.environ.get('AWX_RECEPTOR_CONF', '/etc/receptor/receptor.conf')|" \
    "$src/awx/main/tasks/receptor.py"
  grep -q "AWX_RECEPTOR_CONF" "$src/awx/main/tasks/receptor.py" || fail "could not patch receptor.py"
  grep -Ev '^(pip|setuptools)==' "$src/requirements/requirements.txt" > "$AWX_CACHE/src/requirements.txt"
  cat >> "$AWX_CACHE/src/requirements.txt" <<EOF
ansible-runner==2.4.0
python3-saml==1.16.0
certifi
drf-yasg==1.21.7
django-ansible-base[rest_filters,jwt_consumer,resource_registry,rbac] @ file://$AWX_CACHE/src/django-ansible-base-$DAB_VERSION
EOF
  "${PYTHON:-python3}" -m venv "$AWX_VENV"
  "$AWX_VENV/bin/python" -m pip install --quiet 'pip<25' 'setuptools<70' wheel
  SETUPTOOLS_SCM_PRETEND_VERSION_FOR_DJANGO_ANSIBLE_BASE=$DAB_VERSION \
    "$AWX_VENV/bin/python" -m pip install --quiet -r "$AWX_CACHE/src/requirements.txt"
  # Editable, as AWX's own images do: setup.cfg lists only the top-level package, so a regular
  # install would leave out awx.settings and the other subpackages.
  SETUPTOOLS_SCM_PRETEND_VERSION=$AWX_VERSION \
    "$AWX_VENV/bin/python" -m pip install --quiet --no-deps --no-build-isolation -e "$src"
  echo "$want" > "$AWX_VENV/.installed"
fi


for i in "${!bg_pids[@]}"; do
  wait "${bg_pids[$i]}" || { tail -20 "${bg_logs[$i]}" >&2; fail "failed, see ${bg_logs[$i]}"; }
done

# 5. The execution environment: the Python layer is cached; the collection layer is rebuilt when
#    the collection changes (its tag is the hash of the collection's files).
# (the EE image is built by awx.sh up, which needs its name)
log "done"
