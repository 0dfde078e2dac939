# Copyright (c) servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every naming convention of an OSSM 2.x federation, in one place (fact sheet §1-§4, §8).

Directions are always seen from one mesh: ``peer`` is the other mesh's name, which is also the
name of this mesh's ServiceMeshPeer, ExportedServiceSet and ImportedServiceSet for it.
Pure Python, stdlib only.
"""

from __future__ import annotations

# The label on every object the collection writes, and the field manager of its server-side
# applies (the SMCP gateway entries).
MANAGED_BY = {"app.kubernetes.io/managed-by": "servicemesh.federation"}
MANAGED_SELECTOR = ",".join(f"{k}={v}" for k, v in MANAGED_BY.items())
FIELD_MANAGER = "servicemesh.federation"

# On each CA ConfigMap copy of a peer's root: the fingerprint of the root copied (certs.py
# bundle_fingerprint). The root-change gate compares it with the peer's current root.
ROOT_FINGERPRINT_ANNOTATION = "federation.servicemesh.io/root-sha256"

# istiod's label (on its Deployment and pods), as OSSM sets it.
ISTIOD_LABEL = ("app", "istiod")
ISTIOD_SELECTOR = "=".join(ISTIOD_LABEL)

# The ports of every federation gateway (fact sheet §4.2): discovery and service (mTLS traffic).
# An ingress gateway's container ports; its Service may expose them on other ports (NodePort),
# which are what the peer must dial.
DEFAULT_DISCOVERY_PORT = 8188
DEFAULT_SERVICE_PORT = 15443
# The operator reserves these gateway names (fact sheet §4.2).
RESERVED_GATEWAYS = ("istio-ingressgateway", "istio-egressgateway")
# Names a YAML file of passwords by cluster name (the AWX credential type
# "Service Mesh federation cluster passwords"; read in module_utils/client/passwords.py).
PASSWORDS_ENV = "FEDERATION_CLUSTER_PASSWORDS"
ROOT_CERT_KEY = "root-cert.pem"
# The domain of a mesh's own services; an import domainSuffix may not be this (use as_local).
LOCAL_DOMAIN_SUFFIX = "svc.cluster.local"


def ca_configmap_name(peer: str) -> str:
    """The ConfigMap holding ``peer``'s root certificate in this mesh's namespace."""
    return f"{peer}-ca-root-cert"


def ingress_gateway_name(peer: str) -> str:
    """This mesh's default ingress gateway for ``peer`` (the peer dials it)."""
    return f"ingress-{peer}"


def egress_gateway_name(peer: str) -> str:
    """This mesh's default egress gateway for ``peer`` (this mesh's istiod dials through it)."""
    return f"egress-{peer}"


def network_name(peer: str) -> str:
    """The network istiod puts ``peer``'s endpoints in: the egress gateway's requested view.

    The code uses ``network-<ServiceMeshPeer name>`` (fact sheet §4.2: trust the code, not the
    docs' ``<peer>-network``).
    """
    return f"network-{peer}"


def client_id(peer_trust_domain: str, peer_namespace: str, peer_egress_gateway: str) -> str:
    """SPIFFE principal (without ``spiffe://``) of the peer's egress gateway for this mesh."""
    return f"{peer_trust_domain}/ns/{peer_namespace}/sa/{peer_egress_gateway}-service-account"


def exported_name(service: str, namespace: str, peer: str) -> str:
    """The FQDN an exporter publishes ``service.namespace`` (after its alias) under for ``peer``
    (its ServiceMeshPeer name for the importer): ``<name>.<ns>.svc.<peer>-exports.local``."""
    return f"{service}.{namespace}.svc.{peer}-exports.local"


def imported_domain_suffix(peer: str) -> str:
    """Default domain of services imported from ``peer`` (this mesh's ServiceMeshPeer name)."""
    return f"svc.{peer}-imports.local"
