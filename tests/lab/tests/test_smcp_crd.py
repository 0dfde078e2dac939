"""The lab's ServiceMeshControlPlane is as strict as OSSM's: the CRD prunes and refuses where the
real one does, the operator's admission errors come from the apiserver, and `lab up` starts
control planes without federation gateways unless asked `--with-gateways`.

Most writes are dry runs (fully validated and admitted, never stored); the others go to a
throwaway namespace deleted at the end.
"""

from __future__ import annotations

import copy
import json
import uuid

import kubernetes
import pytest
from kubernetes.client.exceptions import ApiException

GROUP, VERSION, PLURAL = "maistra.io", "v2", "servicemeshcontrolplanes"
MESH = "red-mesh"
FIELD_MANAGER = "servicemesh.federation"

INGRESS = {
    "enabled": True,
    "routerMode": "sni-dnat",
    "service": {
        "type": "LoadBalancer",
        "metadata": {"labels": {"federation.maistra.io/ingress-for": "ingress-x"},
                     "annotations": {"service.beta.kubernetes.io/aws-load-balancer-type": "nlb"}},
        "ports": [{"port": 15443, "name": "tls"}, {"port": 8188, "name": "https-discovery"}],
    },
}
EGRESS = {
    "enabled": True,
    "requestedNetworkView": ["network-x"],
    "routerMode": "sni-dnat",
    "service": {
        "metadata": {"labels": {"federation.maistra.io/egress-for": "egress-x"}},
        "ports": [{"port": 15443, "name": "tls"}, {"port": 8188, "name": "http-discovery"}],
    },
}


def smcp(name: str, namespace: str, **spec) -> dict:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "ServiceMeshControlPlane",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"version": "v2.5", "security": {"trust": {"domain": "x.local"}}, **spec}}


def gateways(ingress: dict | None = None, egress: dict | None = None) -> dict:
    return {"gateways": {"additionalIngress": ingress or {}, "additionalEgress": egress or {}}}


@pytest.fixture(scope="module")
def api(lab):
    return lab.api_client(MESH)


@pytest.fixture(scope="module")
def custom(api):
    return kubernetes.client.CustomObjectsApi(api)


@pytest.fixture(scope="module")
def scratch(api):
    """A throwaway namespace on red-mesh's cluster (no SMCP in it), deleted at the end."""
    core = kubernetes.client.CoreV1Api(api)
    name = f"smcp-test-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": name}})
    yield name
    core.delete_namespace(name)


def dry_run(custom, body: dict, validation: str | None = None) -> dict:
    """Create ``body`` as a dry run: the object as the apiserver would store it."""
    kwargs = {"field_validation": validation} if validation else {}
    return custom.create_namespaced_custom_object(
        GROUP, VERSION, body["metadata"]["namespace"], PLURAL, body, dry_run="All", **kwargs)


def refused(custom, body: dict, validation: str | None = None) -> str:
    """The error message a user sees when creating ``body`` (dry run)."""
    with pytest.raises(ApiException) as e:
        dry_run(custom, body, validation)
    assert e.value.status in (400, 403, 422), e.value.body
    return json.loads(e.value.body)["message"]


# --- pruning and strict field validation -------------------------------------------------------

# (where, how to add an unknown field to a valid SMCP spec)
UNKNOWN_FIELDS = {
    "spec": lambda s: s.update(bogus=1),
    "spec.cluster": lambda s: s.update(cluster={"name": "x", "bogus": 1}),
    "spec.gateways": lambda s: s["gateways"].update(bogus=1),
    "spec.gateways.additionalIngress.ingress-x": (
        lambda s: s["gateways"]["additionalIngress"]["ingress-x"].update(bogus=1)),
    "spec.gateways.additionalEgress.egress-x.service": (
        lambda s: s["gateways"]["additionalEgress"]["egress-x"]["service"].update(bogus=1)),
    "spec.gateways.additionalIngress.ingress-x.service.ports[0]": (
        lambda s: s["gateways"]["additionalIngress"]["ingress-x"]["service"]["ports"][0].update(
            bogus=1)),
    "spec.security.trust": lambda s: s["security"]["trust"].update(bogus=1),
}


def _with_unknown(namespace: str, where: str) -> dict:
    body = smcp("basic", namespace, **gateways({"ingress-x": copy.deepcopy(INGRESS)},
                                               {"egress-x": copy.deepcopy(EGRESS)}))
    UNKNOWN_FIELDS[where](body["spec"])
    return body


@pytest.mark.parametrize("where", sorted(UNKNOWN_FIELDS))
def test_unknown_fields_are_pruned_and_refused_when_strict(custom, scratch, where):
    stored = dry_run(custom, _with_unknown(scratch, where))
    assert "bogus" not in json.dumps(stored["spec"])
    message = refused(custom, _with_unknown(scratch, where), "Strict")
    assert f'unknown field "{where}.bogus"' in message


def test_an_unknown_field_is_gone_when_read_back(custom, scratch):
    body = _with_unknown(scratch, "spec.gateways.additionalIngress.ingress-x")
    body["spec"]["techPreview"] = {"anything": {"goes": True}}  # upstream preserves this one
    custom.create_namespaced_custom_object(GROUP, VERSION, scratch, PLURAL, body)
    try:
        got = custom.get_namespaced_custom_object(GROUP, VERSION, scratch, PLURAL, "basic")
        assert "bogus" not in got["spec"]["gateways"]["additionalIngress"]["ingress-x"]
        assert got["spec"]["techPreview"] == {"anything": {"goes": True}}
        assert got["spec"]["gateways"]["additionalIngress"]["ingress-x"] == INGRESS
        assert got["spec"]["gateways"]["additionalEgress"]["egress-x"] == EGRESS
    finally:
        custom.delete_namespaced_custom_object(GROUP, VERSION, scratch, PLURAL, "basic")


def test_requested_network_view_exists_on_egress_entries_only(custom, scratch):
    ingress = {**INGRESS, "requestedNetworkView": ["network-x"]}
    body = smcp("basic", scratch, **gateways({"ingress-x": ingress}, {"egress-x": EGRESS}))
    stored = dry_run(custom, body)["spec"]["gateways"]
    assert "requestedNetworkView" not in stored["additionalIngress"]["ingress-x"]
    assert stored["additionalEgress"]["egress-x"]["requestedNetworkView"] == ["network-x"]
    message = refused(custom, body, "Strict")
    assert ('unknown field "spec.gateways.additionalIngress.ingress-x.requestedNetworkView"'
            in message)


def test_gateway_ports_are_keyed_by_port(custom, scratch):
    ingress = copy.deepcopy(INGRESS)
    ingress["service"]["ports"].append({"port": 15443, "name": "tls-again"})
    message = refused(custom, smcp("basic", scratch, **gateways({"ingress-x": ingress})))
    assert "Duplicate value" in message and "ports[2]" in message
    ingress["service"]["ports"][2] = {"name": "no-port"}
    message = refused(custom, smcp("basic", scratch, **gateways({"ingress-x": ingress})))
    assert "ports[2].port: Required value" in message


def test_mode_is_multitenant_or_clusterwide(custom, scratch):
    message = refused(custom, smcp("basic", scratch, mode="SingleTenant"))
    assert ('spec.mode: Unsupported value: "SingleTenant": supported values: "MultiTenant", '
            '"ClusterWide"') in message
    for mode in ("MultiTenant", "ClusterWide"):
        assert dry_run(custom, smcp("basic", scratch, mode=mode))["spec"]["mode"] == mode


def test_status_requires_readiness(custom, scratch):
    custom.create_namespaced_custom_object(GROUP, VERSION, scratch, PLURAL, smcp("basic", scratch))
    try:
        with pytest.raises(ApiException) as e:
            custom.patch_namespaced_custom_object_status(
                GROUP, VERSION, scratch, PLURAL, "basic", {"status": {"chartVersion": "2.5.0"}})
        assert e.value.status == 422
        assert "status.readiness: Required value" in json.loads(e.value.body)["message"]
        custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, scratch, PLURAL, "basic",
            {"status": {"chartVersion": "2.5.0", "readiness": {"components": {"ready": []}}}})
    finally:
        custom.delete_namespaced_custom_object(GROUP, VERSION, scratch, PLURAL, "basic")


def test_printer_columns_and_versions_are_upstreams(lab, api):
    crd = kubernetes.client.ApiextensionsV1Api(api).read_custom_resource_definition(
        f"{PLURAL}.{GROUP}")
    versions = {v.name: v for v in crd.spec.versions}
    assert {(n, v.served, v.storage) for n, v in versions.items()} == {
        ("v1", True, False), ("v2", True, True)}
    columns = [(c.name, c.json_path, c.priority or 0)
               for c in versions["v2"].additional_printer_columns]
    assert columns == [
        ("Ready", ".status.annotations.readyComponentCount", 0),
        ("Status", '.status.conditions[?(@.type=="Ready")].reason', 0),
        ("Profiles", ".status.appliedSpec.profiles", 0),
        ("Version", ".status.chartVersion", 0),
        ("Age", ".metadata.creationTimestamp", 0),
        ("Image Registry", ".status.appliedSpec.runtime.defaults.container.registry", 1),
    ]
    # What `oc get smcp` shows for a mesh's control plane (read-only, shared lab).
    namespace = lab.state["meshes"][MESH]["namespace"]
    table = api.call_api(
        f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}", "GET",
        header_params={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"},
        auth_settings=["BearerToken"], _preload_content=False)[0]
    table = json.loads(table.data)
    names = [c["name"] for c in table["columnDefinitions"]]
    row = dict(zip(names, table["rows"][0]["cells"], strict=True))
    assert row["Name"] == "basic" and row["Status"] == "ComponentsReady"
    assert row["Profiles"] == '["default"]' and row["Version"] == "2.5.0"


# --- server-side apply: the collection owns single gateway entries -----------------------------

def test_server_side_apply_owns_gateway_entries_one_by_one(lab, api, custom, scratch):
    resource = lab.client(MESH).resources.get(
        api_version=f"{GROUP}/{VERSION}", kind="ServiceMeshControlPlane")
    strict = [("fieldValidation", "Strict")]

    def apply(manager: str, spec: dict):
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "ServiceMeshControlPlane",
                "metadata": {"name": "basic", "namespace": scratch}, "spec": spec}
        return resource.server_side_apply(body=body, field_manager=manager,
                                          query_params=list(strict))

    apply("people", {**smcp("basic", scratch)["spec"],
                     "gateways": {"additionalIngress": {"ingress-people": INGRESS}}})
    try:
        apply(FIELD_MANAGER, gateways({"ingress-x": INGRESS}, {"egress-x": EGRESS}))
        got = custom.get_namespaced_custom_object(GROUP, VERSION, scratch, PLURAL, "basic")
        assert sorted(got["spec"]["gateways"]["additionalIngress"]) == ["ingress-people",
                                                                        "ingress-x"]
        owned = next(m["fieldsV1"] for m in got["metadata"]["managedFields"]
                     if m["manager"] == FIELD_MANAGER)["f:spec"]["f:gateways"]
        assert list(owned["f:additionalIngress"]) == ["f:ingress-x"]
        assert list(owned["f:additionalEgress"]) == ["f:egress-x"]
        ports = owned["f:additionalIngress"]["f:ingress-x"]["f:service"]["f:ports"]
        assert sorted(ports) == ['k:{"port":15443}', 'k:{"port":8188}']

        # Server-side apply refuses a misplaced field whatever fieldValidation says (HTTP 500,
        # as any kube-apiserver); the admission policy applies to it too.
        with pytest.raises(kubernetes.dynamic.exceptions.DynamicApiError) as e:
            apply(FIELD_MANAGER, gateways({"ingress-x": {**INGRESS, "requestedNetworkView": []}}))
        assert (".spec.gateways.additionalIngress.ingress-x.requestedNetworkView: field not "
                "declared in schema") in json.loads(e.value.body)["message"]
        with pytest.raises(kubernetes.dynamic.exceptions.DynamicApiError) as e:
            apply(FIELD_MANAGER, gateways({"ingress-x": INGRESS}, {"ingress-people": EGRESS}))
        message = json.loads(e.value.body)["message"]
        assert f'multiple gateways defined for "{scratch}/ingress-people"' in message

        # Applying nothing removes exactly what this manager owned.
        apply(FIELD_MANAGER, {})
        got = custom.get_namespaced_custom_object(GROUP, VERSION, scratch, PLURAL, "basic")
        assert got["spec"]["gateways"] == {"additionalIngress": {"ingress-people": INGRESS}}
    finally:
        custom.delete_namespaced_custom_object(GROUP, VERSION, scratch, PLURAL, "basic")


# --- the operator's admission errors, from the apiserver ----------------------------------------

def test_a_name_in_both_additional_ingress_and_egress_is_refused(custom, scratch):
    body = smcp("basic", scratch, **gateways({"fed-x": INGRESS}, {"fed-x": EGRESS}))
    assert f'multiple gateways defined for "{scratch}/fed-x"' in refused(custom, body)
    # The operator compares namespace/name: the same name in another namespace is another one.
    body["spec"]["gateways"]["additionalEgress"]["fed-x"] = {**EGRESS, "namespace": "elsewhere"}
    dry_run(custom, body)


@pytest.mark.parametrize("kind", ["additionalIngress", "additionalEgress"])
@pytest.mark.parametrize("name", ["istio-ingressgateway", "istio-egressgateway"])
def test_the_default_gateway_names_are_reserved(custom, scratch, kind, name):
    body = smcp("basic", scratch, gateways={kind: {name: {"enabled": True}}})
    assert f'cannot define additional gateway named "{name}"' in refused(custom, body)


def test_one_service_mesh_per_namespace(lab, custom):
    namespace = lab.state["meshes"][MESH]["namespace"]  # has the mesh's SMCP "basic"
    message = refused(custom, smcp("second", namespace))
    assert "only one service mesh may be installed per project/namespace" in message


# --- `lab up`: fresh control planes, or --with-gateways ----------------------------------------

def _federation_gateways(lab, mesh: str) -> tuple[dict, list[str]]:
    admin = lab.admin(mesh)
    spec = admin.smcp()["spec"]
    services = admin.core.list_namespaced_service(admin.namespace).items
    names = sorted(s.metadata.name for s in services
                   if s.metadata.name.startswith(("ingress-", "egress-")))
    return spec.get("gateways") or {}, names


def _assert_gateways(lab, present: bool) -> None:
    assert lab.state["gateways"] is present
    for mesh in lab.meshes:
        spec, services = _federation_gateways(lab, mesh)
        peers = [m for m in lab.meshes if m != mesh]
        expected = sorted([f"egress-{p}" for p in peers] + [f"ingress-{p}" for p in peers])
        if present:
            assert sorted([*spec["additionalIngress"], *spec["additionalEgress"]]) == expected
            assert services == expected
        else:
            assert spec == {} and services == [], f"{mesh}: {spec} {services}"


def test_the_shared_lab_starts_as_configured(lab):
    _assert_gateways(lab, lab.gateways)


def test_the_other_choice_and_up_keeps_it(lab, gateway_lab):
    """The gateway lab is started the other way than the shared one."""
    assert gateway_lab.gateways is not lab.gateways
    other = gateway_lab
    _assert_gateways(other, other.gateways)
    assert ("with" if other.gateways else "no") + " federation gateways" in other.up().stdout
    proc = other.run("up", "--meshes", other.mesh_spec, "--ip-block", "156", check=False)
    assert proc.returncode == 0 and other.state["gateways"] is other.gateways  # kept
    if not other.gateways:
        proc = other.run("up", "--meshes", other.mesh_spec, "--ip-block", "156",
                         "--with-gateways", check=False)
        assert proc.returncode == 1 and "without federation gateways" in proc.stderr
    _assert_gateways(other, other.gateways)
