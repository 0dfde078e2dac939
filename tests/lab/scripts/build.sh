#!/usr/bin/env bash
# Build the lab's pinned control-plane binaries and kubectl from the Go module proxy, and the lab
# kubelet (go/kubelet) on the kubelet's streaming server of the same release.
# Skipped when the binaries for the pinned versions already exist (lab-kubelet: when its sources
# are unchanged). Nothing lands in git:
# binaries go to $LAB_BIN_DIR (default ~/.cache/servicemesh-federation-lab/bin/<versions>).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
# Both go.mod forms: `require k8s.io/kubernetes vX` and a line inside a `require (...)` block.
KUBE_VERSION="$(awk '$1 == "require" && $2 == "k8s.io/kubernetes" {print $3} $1 == "k8s.io/kubernetes" && $2 ~ /^v/ {print $2}' "$here/go/kube/go.mod")"
[ -n "$KUBE_VERSION" ] || { echo "build.sh: cannot read the k8s.io/kubernetes version from go/kube/go.mod" >&2; exit 1; }
ETCD_VERSION="$(awk '$1 == "go.etcd.io/etcd/server/v3" {print $2}' "$here/go/etcd/go.mod")"
[ -n "$ETCD_VERSION" ] || { echo "build.sh: cannot read the etcd version from go/etcd/go.mod" >&2; exit 1; }
# lab-kubelet (go/kubelet) uses the kubelet's streaming server of the same Kubernetes release.
KUBELET_VERSION="$(awk '$1 == "k8s.io/kubelet" && $2 ~ /^v/ {print $2}' "$here/go/kubelet/go.mod")"
[ "$KUBELET_VERSION" = "v0.${KUBE_VERSION#v1.}" ] || {
  echo "build.sh: go/kubelet/go.mod pins k8s.io/kubelet ${KUBELET_VERSION:-?}, expected v0.${KUBE_VERSION#v1.} (go/kube: k8s.io/kubernetes $KUBE_VERSION)" >&2
  exit 1
}
bin="${LAB_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/servicemesh-federation-lab/bin/kube-${KUBE_VERSION}-etcd-${ETCD_VERSION}}"
export CGO_ENABLED=0 GOFLAGS=-modcacherw GOTOOLCHAIN=local

# The OSSM 3 side's CRDs (`lab up --ossm 2+3|3`): the modules pinned in go/ossm3, into the module
# cache (`lab up` fetches them itself when this could not).
(cd "$here/go/ossm3" && GOFLAGS=-mod=mod go mod download istio.io/api sigs.k8s.io/gateway-api) \
  || echo "build.sh: could not fetch the OSSM 3 CRD modules (only lab up --ossm 2+3|3 needs them)" >&2

need=()
for b in etcd kube-apiserver kube-controller-manager kubectl; do
  [ -x "$bin/$b" ] || need+=("$b")
done
# lab-kubelet is the lab's own code: rebuilt when its sources change (their hash in a stamp file).
kubelet_src="$(cat "$here"/go/kubelet/*.go "$here"/go/kubelet/go.mod "$here"/go/kubelet/go.sum | sha256sum | cut -d' ' -f1)"
if [ ! -x "$bin/lab-kubelet" ] || [ "$(cat "$bin/lab-kubelet.src" 2>/dev/null)" != "$kubelet_src" ]; then
  need+=(lab-kubelet)
fi
if [ ${#need[@]} -eq 0 ]; then
  echo "lab binaries present in $bin"
  exit 0
fi

mkdir -p "$bin"
minor="${KUBE_VERSION#v1.}"; minor="${minor%%.*}"
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=${KUBE_VERSION} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${minor} -X k8s.io/client-go/pkg/version.gitVersion=${KUBE_VERSION} -X k8s.io/component-base/version.gitTreeState=clean"
start=$(date +%s)
for b in "${need[@]}"; do
  echo "building $b ..."
  t=$(date +%s)
  case "$b" in
    etcd) (cd "$here/go/etcd" && go build -trimpath -ldflags "-s -w" -o "$bin/etcd.tmp" go.etcd.io/etcd/server/v3) ;;
    lab-kubelet) (cd "$here/go/kubelet" && go build -trimpath -ldflags "-s -w" -o "$bin/$b.tmp" .) ;;
    *) (cd "$here/go/kube" && go build -trimpath -ldflags "$ldflags" -o "$bin/$b.tmp" "k8s.io/kubernetes/cmd/$b") ;;
  esac
  mv "$bin/$b.tmp" "$bin/$b"
  [ "$b" != lab-kubelet ] || echo "$kubelet_src" > "$bin/lab-kubelet.src"
  echo "built $b in $(( $(date +%s) - t ))s"
done
echo "lab binaries built in $bin in $(( $(date +%s) - start ))s"
