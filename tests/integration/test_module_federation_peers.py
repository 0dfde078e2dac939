"""servicemesh.federation.federation_peers against a real kube-apiserver (the shared lab).

Runs in a scratch namespace of red-mesh's cluster, as the lab admin, so that it never touches
the meshes the playbook tests federate. What it checks on the wire (apiserver audit log):
strict field validation and our field manager on every write, no write on a re-run or in check
mode, and that objects we did not create are refused unless taken over.
"""

from __future__ import annotations

import datetime
import json
from urllib.parse import parse_qs, urlsplit

import pytest
from ansible_run import run_playbook
from common import now
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ansible_collections.servicemesh.federation.plugins.module_utils.logic.plan import build_plan

MESH = "red-mesh"
NS_PREFIX = "modules-test"
ADMIN = "lab-admin"
LABEL = {"app.kubernetes.io/managed-by": "servicemesh.federation"}
SMP = ("federation.maistra.io/v1", "ServiceMeshPeer")


def root_pem(name: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} root CA")])
    start = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(1).not_valid_before(start)
            .not_valid_after(start + datetime.timedelta(days=30)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


PEERS = ("green-mesh", "blue-mesh")
ROOTS = {peer: root_pem(peer) for peer in PEERS}


def links(ns: str) -> list[dict]:
    conn = {"host": "https://127.0.0.1:1", "api_key": "unused"}
    meshes = {MESH: {"mesh_namespace": ns, "mesh_cluster": conn}}
    meshes.update({peer: {"mesh_cluster": conn} for peer in PEERS})
    return build_plan(meshes, None)["meshes"][MESH]["links"]


def peer_facts() -> dict:
    return {peer: {"root_cert": ROOTS[peer],
                   "ingress": {f"ingress-{MESH}": {"addresses": [f"127.0.0.{i}"],
                                                   "discovery_port": 8188,
                                                   "service_port": 15443}}}
            for i, peer in enumerate(PEERS, start=10)}


def apply(lab, ns, tmp_path, check=False, diff=False, **options):
    """One federation_peers task, run by ansible-playbook as a user would."""
    args = {"kubeconfig": lab.kubeconfig, "context": lab.context(MESH), "namespace": ns,
            "links": links(ns), "peer_facts": peer_facts(), **options}
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "federation_peers", "servicemesh.federation.federation_peers": args}]}]
    playbook = tmp_path / "peers.yml"
    playbook.write_text(json.dumps(play))
    inventory = tmp_path / "hosts.yml"
    localhost = {"ansible_connection": "local",
                 "ansible_python_interpreter": "{{ ansible_playbook_python }}"}
    inventory.write_text(json.dumps({"all": {"hosts": {"localhost": localhost}}}))
    run = run_playbook(str(playbook), inventory, check=check, diff=diff)
    return run, run.results("federation_peers")["localhost"]


def writes_here(lab, ns, since):
    """Write requests the admin sent into the scratch namespace since ``since``."""
    cluster = lab.state["meshes"][MESH]["cluster"]
    return [w for w in lab.audit_writes(cluster, ADMIN, since)
            if w["objectRef"].get("namespace") == ns]


@pytest.fixture
def scratch(lab, request):
    """A new empty namespace on red-mesh's cluster (admin client, name), deleted afterwards."""
    api = lab.client(MESH)
    ns = f"{NS_PREFIX}-{request.node.name.removeprefix('test_')[:20].replace('_', '-')}-" \
         f"{int(now()) % 100000}"
    namespaces = api.resources.get(api_version="v1", kind="Namespace")
    namespaces.create(body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    yield api, ns
    namespaces.delete(name=ns)


def objects(api, ns, kind_gvk, label_selector=None):
    resource = api.resources.get(api_version=kind_gvk[0], kind=kind_gvk[1])
    items = resource.get(namespace=ns, label_selector=label_selector).to_dict()["items"]
    return {item["metadata"]["name"]: item for item in items}


def test_writes_are_strict_owned_and_not_repeated(lab, scratch, tmp_path):
    api, ns = scratch
    since = now()
    run, predicted = apply(lab, ns, tmp_path, check=True, diff=True)
    assert run.rc == 0, run.explain()
    assert predicted["changed"] is True and predicted["writes"] == 0
    assert writes_here(lab, ns, since) == []

    since = now()
    run, first = apply(lab, ns, tmp_path)
    assert run.rc == 0, run.explain()
    assert first["objects"] == predicted["objects"]
    sent = writes_here(lab, ns, since)
    assert first["writes"] == len(sent) == 4
    for write in sent:
        query = parse_qs(urlsplit(write["requestURI"]).query)
        assert query["fieldValidation"] == ["Strict"], write["requestURI"]
        assert query["fieldManager"] == ["servicemesh.federation"], write["requestURI"]
    assert [w["objectRef"]["resource"] for w in sent] == ["configmaps"] * 2 + \
        ["servicemeshpeers"] * 2
    configmaps = objects(api, ns, ("v1", "ConfigMap"), "app.kubernetes.io/managed-by")
    assert configmaps["green-mesh-ca-root-cert"]["data"]["root-cert.pem"] == ROOTS["green-mesh"]
    peers = objects(api, ns, SMP)
    assert peers["blue-mesh"]["metadata"]["labels"] == LABEL
    assert peers["blue-mesh"]["spec"]["remote"]["addresses"] == ["127.0.0.11"]

    since = now()
    run, again = apply(lab, ns, tmp_path)
    assert run.rc == 0, run.explain()
    assert again["changed"] is False and again["writes"] == 0
    assert writes_here(lab, ns, since) == []

    since = now()
    run, removed = apply(lab, ns, tmp_path, state="absent", peers=["green-mesh"])
    assert run.rc == 0, run.explain()
    assert [(o["kind"], o["name"], o["action"]) for o in removed["objects"]] == [
        ("ServiceMeshPeer", "green-mesh", "deleted"),
        ("ConfigMap", "green-mesh-ca-root-cert", "deleted")]
    assert sorted(objects(api, ns, SMP)) == ["blue-mesh"]
    assert len(writes_here(lab, ns, since)) == 2


def test_object_we_did_not_create_is_refused_unless_taken_over(lab, scratch, tmp_path):
    api, ns = scratch
    foreign = {"apiVersion": SMP[0], "kind": SMP[1],
               "metadata": {"name": "green-mesh", "namespace": ns},
               "spec": {"remote": {"addresses": ["192.0.2.1"]}}}
    api.resources.get(api_version=SMP[0], kind=SMP[1]).create(body=foreign)
    ours_so_far = {w["auditID"] for w in writes_here(lab, ns, None)}

    run, refused = apply(lab, ns, tmp_path)
    assert run.rc != 0
    assert f"ServiceMeshPeer {ns}/green-mesh" in refused["msg"]
    assert "take_over" in refused["msg"]
    # decided before the first write: not even the free ConfigMaps were written
    assert [w for w in writes_here(lab, ns, None) if w["auditID"] not in ours_so_far] == []

    run, adopted = apply(lab, ns, tmp_path, take_over=True)
    assert run.rc == 0, run.explain()
    assert {"kind": "ServiceMeshPeer", "name": "green-mesh", "action": "updated"} in \
        adopted["objects"]
    green = objects(api, ns, SMP)["green-mesh"]
    assert green["metadata"]["labels"] == LABEL
    assert green["spec"]["remote"]["addresses"] == ["127.0.0.10"]

    run, removed = apply(lab, ns, tmp_path, state="absent")
    assert run.rc == 0, run.explain()
    assert objects(api, ns, SMP) == {}


def test_api_server_rejects_unknown_fields(lab, scratch):
    api, ns = scratch
    """The client layer asks for strict validation; a misspelt field is an error, not pruned."""
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import (
        get_api_client,
    )

    from ansible_collections.servicemesh.federation.plugins.module_utils.client.cluster import (
        Cluster,
    )
    from ansible_collections.servicemesh.federation.plugins.module_utils.logic.errors import (
        ClusterError,
    )

    cluster = Cluster(get_api_client(kubeconfig=lab.kubeconfig, context=lab.context(MESH)),
                      "'red-mesh'")
    typo = {"apiVersion": SMP[0], "kind": SMP[1],
            "metadata": {"name": "typo", "namespace": ns},
            "spec": {"remote": {"adresses": ["192.0.2.1"]}}}
    with pytest.raises(ClusterError) as failure:
        cluster.create(typo)
    assert failure.value.status == 400
    assert 'unknown field "spec.remote.adresses"' in str(failure.value)
    assert str(failure.value).startswith(
        f"cluster 'red-mesh', namespace {ns}: create ServiceMeshPeer/typo: ")
