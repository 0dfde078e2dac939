#!/usr/bin/env bash
# Build the control-plane execution environment of the local AWX: the image AWX runs its own
# playbooks in (project updates: awx/playbooks/project_update.yml), as awx-ee is for a real AWX.
#
# Not the job EE (build-ee.sh): AWX 24.6.1's project_update.yml uses a list as a condition
# (`when: req_file`, where first_found(skip=True) gives [] without roles/requirements.yml), which
# ansible-core 2.19 refuses ("Conditionals must have a boolean result"). The awx-ee of AWX 24.6.1
# shipped an ansible-core from before 2.19, so this image has the 2.17 series; the job EE stays
# on the version the collection is tested with and keeps 2.19's strict checks.
# Prints the image name: localhost/servicemesh-federation-control-ee:<hash of its Containerfile>.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=scripts/awx/env.sh
. "$here/env.sh"
exec 9>"$AWX_CACHE/ee.lock"
flock 9
ctx="$AWX_CACHE/control-ee-context"
runner="$(awx_ee_pin ansible_runner)"
rm -rf "$ctx" && mkdir -p "$ctx"
cp /etc/ssl/certs/ca-certificates.crt "$ctx/host-ca.crt"
cat > "$ctx/Containerfile" <<CONTAINERFILE
FROM $AWX_BASE_IMAGE
COPY host-ca.crt /etc/ssl/certs/host-ca.crt
ENV PIP_CERT=/etc/ssl/certs/host-ca.crt PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python3 -m venv /opt/ee && /opt/ee/bin/pip install --quiet \\
    'ansible-core==$AWX_CONTROL_ANSIBLE_CORE' '$runner' \\
    && mkdir -p /runner && chmod 0777 /runner
ENV PATH=/opt/ee/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \\
    HOME=/runner LANG=C.UTF-8
WORKDIR /runner
CONTAINERFILE
hash="$(cat "$ctx/Containerfile" "$ctx/host-ca.crt" | sha256sum | cut -c1-12)"
image="$AWX_CONTROL_EE_REPO:$hash"
if ! podman image exists "$image"; then
  echo "awx-control-ee: building $image" >&2
  podman build --network host --layers -q -t "$image" -f "$ctx/Containerfile" "$ctx" >&2
fi
echo "$image"
