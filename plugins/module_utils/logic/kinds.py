# Copyright: (c) 2026, servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every API kind the collection reads or writes, as (apiVersion, kind): one home, pure Python."""

from __future__ import annotations

# ServiceMeshPeer, ExportedServiceSet and ImportedServiceSet (fact sheet §1, §3).
FEDERATION_API_VERSION = "federation.maistra.io/v1"

CONFIGMAP = ("v1", "ConfigMap")
SERVICE = ("v1", "Service")
POD = ("v1", "Pod")
EVENT = ("v1", "Event")
NAMESPACE = ("v1", "Namespace")
NODE = ("v1", "Node")
DEPLOYMENT = ("apps/v1", "Deployment")
SERVICE_MESH_PEER = (FEDERATION_API_VERSION, "ServiceMeshPeer")
EXPORTED_SERVICE_SET = (FEDERATION_API_VERSION, "ExportedServiceSet")
IMPORTED_SERVICE_SET = (FEDERATION_API_VERSION, "ImportedServiceSet")
SERVICE_MESH_CONTROL_PLANE = ("maistra.io/v2", "ServiceMeshControlPlane")
MEMBER_ROLL = ("maistra.io/v1", "ServiceMeshMemberRoll")
