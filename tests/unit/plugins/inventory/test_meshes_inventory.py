"""The inventory plugin's decisions (service/inventory.py): contexts, where to look, the
same mesh seen twice, the name rule, host variables, invalid and duplicate names."""

import pytest

from ansible_collections.servicemesh.federation.plugins.module_utils.logic.errors import (
    AccessDenied,
    ConnectionFailed,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.service.inventory import (
    InventoryError,
    check_names,
    choose_contexts,
    default_mesh_name,
    find_control_planes,
    kubeconfig_contexts,
    mesh_host_vars,
    partial_views,
    records,
    rule_variables,
    same_mesh_once,
)

KUBECONFIG = {
    "contexts": [
        {"name": "east", "context": {"cluster": "east-cluster", "user": "east-admin"}},
        {"name": "east-automation",
         "context": {"cluster": "east-cluster", "user": "auto", "namespace": "east-mesh-system"}},
        {"name": "west", "context": {"cluster": "west-cluster", "user": "west-admin"}},
    ],
    "users": [{"name": "east-admin", "user": {"token": "sha256~secret"}}],
}


def smcp(namespace, domain=None, name="basic", **extra):
    spec = {"version": "v2.5"}
    if domain:
        spec["security"] = {"trust": {"domain": domain}}
    return {"apiVersion": "maistra.io/v2", "kind": "ServiceMeshControlPlane",
            "metadata": {"name": name, "namespace": namespace, "uid": "u1",
                         "managedFields": [{"manager": "x"}], **extra},
            "spec": spec, "status": {"readiness": {}}}


class ListingCluster:
    """Lists SMCPs; `forbidden_cluster_wide` answers 403 to a list in all namespaces."""

    def __init__(self, items, forbidden_cluster_wide=False, error=None):
        self.items = items
        self.forbidden = forbidden_cluster_wide
        self.error = error
        self.listed = []

    def list(self, gvk, namespace):
        self.listed.append(namespace)
        assert gvk == ("maistra.io/v2", "ServiceMeshControlPlane")
        if self.error:
            raise self.error
        if not namespace and self.forbidden:
            raise AccessDenied("'c' (https://h)", "forbidden (403)", "list",
                               "ServiceMeshControlPlane", status=403)
        return [i for i in self.items if not namespace or i["metadata"]["namespace"] == namespace]


def test_contexts_in_file_order_with_cluster_and_namespace_and_no_user_data():
    found = kubeconfig_contexts(KUBECONFIG)
    assert found == [
        {"name": "east", "cluster": "east-cluster", "namespace": ""},
        {"name": "east-automation", "cluster": "east-cluster", "namespace": "east-mesh-system"},
        {"name": "west", "cluster": "west-cluster", "namespace": ""},
    ]
    assert "secret" not in repr(found)


def test_not_a_kubeconfig_is_an_error():
    with pytest.raises(InventoryError, match="not a mapping"):
        kubeconfig_contexts(["x"])


def test_all_contexts_by_default_and_chosen_ones_in_their_order():
    available = kubeconfig_contexts(KUBECONFIG)
    assert [c["name"] for c in choose_contexts(available, [])] == ["east", "east-automation",
                                                                   "west"]
    assert [c["name"] for c in choose_contexts(available, ["west", "east", "west"])] == [
        "west", "east"]


def test_unknown_context_names_every_missing_one_and_what_exists():
    with pytest.raises(InventoryError) as err:
        choose_contexts(kubeconfig_contexts(KUBECONFIG), ["east", "north", "south"])
    assert "north, south" in str(err.value) and "east-automation" in str(err.value)


def test_lists_all_namespaces_when_allowed():
    cluster = ListingCluster([smcp("a-system"), smcp("b-system")])
    items, note = find_control_planes(cluster, "a-system")
    assert [i["metadata"]["namespace"] for i in items] == ["a-system", "b-system"]
    assert note == "" and cluster.listed == [""]


def test_falls_back_to_the_context_namespace_when_forbidden_and_says_so():
    cluster = ListingCluster([smcp("a-system"), smcp("b-system")], forbidden_cluster_wide=True)
    items, note = find_control_planes(cluster, "a-system")
    assert [i["metadata"]["namespace"] for i in items] == ["a-system"]
    assert cluster.listed == ["", "a-system"]
    assert "403" in note and "a-system" in note


def test_forbidden_without_a_context_namespace_raises():
    cluster = ListingCluster([smcp("a-system")], forbidden_cluster_wide=True)
    with pytest.raises(AccessDenied):
        find_control_planes(cluster, "")


@pytest.mark.parametrize("error", [
    AccessDenied("'c'", "the API server rejected the credentials: Unauthorized (401)",
                 status=401),
    ConnectionFailed("'c'", "cannot reach the API server: refused"),
])
def test_rejected_or_unreachable_is_not_retried_in_the_namespace(error):
    cluster = ListingCluster([], error=error)
    with pytest.raises(type(error)):
        find_control_planes(cluster, "a-system")
    assert cluster.listed == [""]


def test_records_keep_a_trimmed_control_plane():
    context = {"name": "east", "cluster": "east-cluster", "namespace": ""}
    found = records(context, "https://east:6443",
                    [smcp("b-system", labels={"x": "1"}), smcp("a-system")])
    assert [r["namespace"] for r in found] == ["a-system", "b-system"]
    first = found[1]
    assert first["context"] == "east" and first["cluster"] == "east-cluster"
    assert first["smcp"]["metadata"] == {"name": "basic", "namespace": "b-system",
                                         "labels": {"x": "1"}}
    assert "status" not in first["smcp"] and first["smcp"]["spec"]["version"] == "v2.5"


def record(context, namespace, server="https://east:6443", cluster="east-cluster", domain=None):
    return records({"name": context, "cluster": cluster}, server, [smcp(namespace, domain)])[0]


def test_a_control_plane_seen_through_two_contexts_of_one_server_is_kept_once():
    admin = record("east", "a-system")
    automation = record("east-automation", "a-system", server="https://east:6443/")
    other = record("east", "b-system")
    kept, dropped = same_mesh_once([admin, other, automation])
    assert kept == [admin, other]
    assert dropped == [(automation, admin)]


def test_same_namespace_on_two_servers_is_two_meshes():
    kept, dropped = same_mesh_once([record("east", "istio-system"),
                                    record("west", "istio-system", server="https://west:6443")])
    assert len(kept) == 2 and dropped == []


@pytest.mark.parametrize("namespace, name", [
    ("red-mesh-system", "red-mesh"), ("istio-system", "istio"), ("mesh", "mesh"),
    ("-system", "-system"), ("a-system-b", "a-system-b"),
])
def test_default_name_is_the_namespace_without_its_system_suffix(namespace, name):
    assert default_mesh_name(namespace) == name


def test_rule_variables():
    r = record("east", "a-system")
    assert rule_variables(r) == {"namespace": "a-system", "smcp": r["smcp"], "context": "east",
                                 "cluster": "east-cluster"}


def test_host_vars_trust_domain_only_when_the_control_plane_sets_it():
    assert mesh_host_vars(record("east", "a-system")) == {
        "mesh_namespace": "a-system",
        "mesh_cluster": {"context": "east", "name": "east-cluster"},
    }
    assert mesh_host_vars(record("east", "a-system", domain="a.example.com"))[
        "mesh_trust_domain"] == "a.example.com"


def test_host_vars_name_the_kubeconfig_only_when_given():
    hostvars = mesh_host_vars(record("east", "a-system"), "/home/u/.kube/federation")
    assert hostvars["mesh_cluster"] == {"kubeconfig": "/home/u/.kube/federation",
                                        "context": "east", "name": "east-cluster"}


def test_duplicate_names_name_both_control_planes():
    a, b = record("east", "a-system"), record("west", "a-system", server="https://west:6443")
    with pytest.raises(InventoryError) as err:
        check_names([("mesh", a), ("mesh", b)])
    assert "'mesh' is used twice: by east/a-system and by west/a-system" in str(err.value)


def test_invalid_names_are_all_reported_with_where_they_come_from():
    a, b = record("east", "a-system"), record("east", "b-system")
    with pytest.raises(InventoryError) as err:
        check_names([("Bad_Name", a), ("", b)])
    text = str(err.value)
    assert "east/a-system" in text and "DNS-1123" in text
    assert "east/b-system" in text and "non-empty" in text


def test_valid_unique_names_pass():
    a, b = record("east", "a-system"), record("east", "b-system")
    assert check_names([("a", a), ("b", b)]) == [("a", a), ("b", b)]


def test_a_partial_view_is_reported_only_when_no_context_read_the_whole_server():
    admin = {"context": "east", "server": "https://east:6443", "note": ""}
    auto = {"context": "east-automation", "server": "https://east:6443/", "note": "403 ..."}
    west = {"context": "west-automation", "server": "https://west:6443", "note": "403 ..."}
    assert partial_views([admin, auto, west]) == [west]
    assert partial_views([auto]) == [auto]


def test_plain_strings_are_trusted_and_template_markers_stay_untrusted():
    from ansible.template import is_trusted_as_template

    from ansible_collections.servicemesh.federation.plugins.inventory.meshes import _plain

    value = _plain({"context": "east", "name": "{{ lookup('pipe', 'id') }}"})
    assert value == {"context": "east", "name": "{{ lookup('pipe', 'id') }}"}
    assert is_trusted_as_template(value["context"])
    assert not is_trusted_as_template(value["name"])
