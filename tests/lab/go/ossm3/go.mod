// Data-only module: pins the Istio API and Gateway API releases whose CRDs the lab installs with
// `lab up --ossm 2+3|3` (fetched with `go mod download`, as the lab's binaries are built).
// istio.io/api v1.30.x: the Istio minor the lab's OSSM 3 control plane runs (v1.30-latest);
// sigs.k8s.io/gateway-api v1.5.x: the Gateway API release of that Istio generation.
module servicemesh.federation/lab/ossm3

go 1.25.0

require (
	istio.io/api v1.30.8
	sigs.k8s.io/gateway-api v1.5.1
)
