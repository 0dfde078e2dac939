#!/usr/bin/env bash
# Build the execution environment image for the local AWX, without a registry or Galaxy: the
# Debian base image (install.sh), a Python layer (ansible-core, ansible-runner and the Python
# requirements of extensions/awx/execution-environment.yml), then a collections layer with
# kubernetes.core (from .collections, the same version ansible-builder would take from Galaxy) and
# this collection (its `make build` tarball, as the EE definition installs it).
# Prints the image name: localhost/servicemesh-federation-ee:<hash of its inputs>. A rebuild
# happens only when an input changed (the collection's files included).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=scripts/awx/env.sh
. "$here/env.sh"
top="$AWX_TOP"
# One build at a time (awx-up and the tests both ask for the image).
exec 9>"$AWX_CACHE/ee.lock"
flock 9
ctx="$AWX_CACHE/ee-context"
core="$(awx_ee_pin ansible_core)" runner="$(awx_ee_pin ansible_runner)"

# The collection as `make build` packs it (build_ignore honoured), from the files git knows
# (tracked or not ignored): the local AWX's state (.awx) and other local directories stay out.
rm -rf "$ctx.new" "$AWX_CACHE/collection-src" && mkdir -p "$ctx.new/collections" "$AWX_CACHE/collection-src"
# shellcheck disable=SC2016  # "$1" is expanded by the inner sh, not here
(cd "$top" && git ls-files -z --cached --others --exclude-standard \
  | xargs -0 -I{} sh -c 'test -f "$1" && printf "%s\0" "$1"' _ {} \
  | tar --null -T - -cf -) | tar -C "$AWX_CACHE/collection-src" -xf -
"$top/.venv/bin/ansible-galaxy" collection build --force --output-path "$ctx.new/collections" \
  "$AWX_CACHE/collection-src" >/dev/null
cp -r "$top/.collections/ansible_collections/kubernetes/core" "$ctx.new/collections/kubernetes.core"
cp "$top/meta/ee-requirements.txt" "$ctx.new/ee-requirements.txt"
# The versions the tests use as constraints: kubernetes 37 no longer exports
# kubernetes.client.Configuration, which the collection imports (seen as a failed AWX job).
grep -E '^[A-Za-z0-9_.-]+==' "$top/requirements.txt" > "$ctx.new/constraints.txt"
cp /etc/ssl/certs/ca-certificates.crt "$ctx.new/host-ca.crt"
cat > "$ctx.new/Containerfile" <<EOF
FROM $AWX_BASE_IMAGE
# pip needs the host's CA bundle (the network may re-sign TLS).
COPY host-ca.crt /etc/ssl/certs/host-ca.crt
ENV PIP_CERT=/etc/ssl/certs/host-ca.crt PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
COPY ee-requirements.txt constraints.txt /build/
RUN python3 -m venv /opt/ee && /opt/ee/bin/pip install --quiet '$core' '$runner' \\
    -r /build/ee-requirements.txt -c /build/constraints.txt
ENV PATH=/opt/ee/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \\
    ANSIBLE_COLLECTIONS_PATH=/usr/share/ansible/collections HOME=/runner LANG=C.UTF-8
COPY collections /build/collections
RUN ansible-galaxy collection install --offline --no-deps -p /usr/share/ansible/collections \\
      /build/collections/servicemesh-federation-*.tar.gz \\
    && mkdir -p /usr/share/ansible/collections/ansible_collections/kubernetes \\
    && cp -r /build/collections/kubernetes.core \\
      /usr/share/ansible/collections/ansible_collections/kubernetes/core \\
    && rm -rf /build && mkdir -p /runner && chmod 0777 /runner
WORKDIR /runner
EOF
# Tag: the hash of the context's content (the tarball's own timestamps left out).
hash="$(cd "$ctx.new" && { cat Containerfile ee-requirements.txt constraints.txt host-ca.crt;
  tar -xzOf collections/servicemesh-federation-*.tar.gz --wildcards '*.py' '*.yml' '*.json' 2>/dev/null
  find collections/kubernetes.core -type f -name MANIFEST.json -exec cat {} +; } | sha256sum | cut -c1-12)"
image="$AWX_EE_REPO:$hash"
if ! podman image exists "$image"; then
  echo "awx-ee: building $image" >&2
  rm -rf "$ctx" && mv "$ctx.new" "$ctx"
  podman build --network host --layers -q -t "$image" -f "$ctx/Containerfile" "$ctx" >&2
  podman tag "$image" "$AWX_EE_REPO:latest"
else
  rm -rf "$ctx.new"
fi
echo "$image"
