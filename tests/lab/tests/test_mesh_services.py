"""Exports and imports end to end between two meshes of a private lab (fact sheet §3).

alpha-mesh exports to beta-mesh (ExportedServiceSet ``beta-mesh``), beta-mesh imports from
alpha-mesh (ImportedServiceSet ``alpha-mesh``); both istiods are the leaders writing the sets'
status. Every wait is on watch events.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import kubernetes
import pytest
from kubernetes.client.exceptions import ApiException
from mesh_admin import TEST_LABEL, MeshAdmin
from mesh_helpers import connected, entries, federate

A, B = "alpha-mesh", "beta-mesh"
A_APPS, B_APPS = f"{A}-apps", f"{B}-apps"
GROUP, VERSION = "federation.maistra.io", "v1"
ESS, ISS = "exportedservicesets", "importedservicesets"
EMPTY = {"name": "", "namespace": "", "hostname": ""}

RATINGS_BY_NAME = {
    "type": "NameSelector",
    "nameSelector": {
        "namespace": A_APPS,
        "name": "ratings",
        "alias": {"namespace": "shared", "name": "a-ratings"},
    },
}
REVIEWS_BY_LABEL = {
    "type": "LabelSelector",
    "labelSelector": {"namespace": A_APPS, "selector": {"matchLabels": {"app": "reviews"}}},
}
RATINGS_FQDN = f"a-ratings.shared.svc.{B}-exports.local"
REVIEWS_FQDN = f"reviews.{A_APPS}.svc.{B}-exports.local"


@pytest.fixture(scope="module")
def fed(lab_factory):
    lab = lab_factory("mesh-services", f"{A} {B}", 164, gateways=True)
    a, b = lab.admin(A), lab.admin(B)
    federate(a, b)
    federate(b, a)
    a.wait_peer(B, connected, "connected both ways")
    b.wait_peer(A, connected, "connected both ways")
    yield a, b
    for mesh, plural, name in ((a, ESS, B), (b, ISS, A)):
        _delete(mesh, plural, name)
    a.cleanup()
    b.cleanup()


def _put(mesh: MeshAdmin, plural: str, name: str, spec: dict) -> dict:
    kind = "ExportedServiceSet" if plural == ESS else "ImportedServiceSet"
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": kind,
        "metadata": {"name": name, "labels": TEST_LABEL},
        "spec": spec,
    }
    try:
        return mesh.custom.create_namespaced_custom_object(
            GROUP, VERSION, mesh.namespace, plural, body
        )
    except ApiException as e:
        if e.status != 409:
            raise
        return mesh.custom.patch_namespaced_custom_object(
            GROUP, VERSION, mesh.namespace, plural, name, {"spec": spec}
        )


def _delete(mesh: MeshAdmin, plural: str, name: str) -> None:
    try:
        mesh.custom.delete_namespaced_custom_object(GROUP, VERSION, mesh.namespace, plural, name)
    except ApiException as e:
        if e.status != 404:
            raise


def _wait_set(
    mesh: MeshAdmin,
    plural: str,
    name: str,
    predicate: Callable[[dict], bool],
    what: str,
    timeout: float = 30.0,
) -> dict:
    """Wait (on watch events) until set ``name`` satisfies ``predicate``; fail naming it."""
    deadline = time.monotonic() + timeout
    last = None
    while (left := deadline - time.monotonic()) > 0:
        objs = mesh.custom.list_namespaced_custom_object(
            GROUP, VERSION, mesh.namespace, plural, field_selector=f"metadata.name={name}"
        )
        for obj in objs["items"]:
            last = obj
            if predicate(obj):
                return obj
        for event in kubernetes.watch.Watch().stream(
            mesh.custom.list_namespaced_custom_object,
            GROUP,
            VERSION,
            mesh.namespace,
            plural,
            field_selector=f"metadata.name={name}",
            resource_version=objs["metadata"]["resourceVersion"],
            timeout_seconds=max(1, int(left)),
        ):
            last = event["object"]
            if event["type"] != "DELETED" and predicate(last):
                return last
    status = json.dumps((last or {}).get("status"), indent=1)
    raise AssertionError(f"{mesh.name}: {plural} {name} never {what}; last status: {status}")


def _status(key: str, expected: list[dict]) -> Callable[[dict], bool]:
    return lambda obj: (obj.get("status") or {}).get(key) == expected


def _local(name: str, namespace: str) -> dict:
    return {
        "name": name,
        "namespace": namespace,
        "hostname": f"{name}.{namespace}.svc.cluster.local",
    }


def test_every_mesh_has_a_member_namespace_with_services_to_share(fed):
    a, _b = fed
    smmr = a.custom.get_namespaced_custom_object(
        "maistra.io", "v1", a.namespace, "servicemeshmemberrolls", "default"
    )
    assert smmr["spec"]["members"] == [A_APPS]
    assert smmr["status"]["configuredMembers"] == [A_APPS]
    services = {s.metadata.name: s for s in a.core.list_namespaced_service(A_APPS).items}
    assert sorted(services) == ["details", "ratings", "reviews"]
    for name, svc in services.items():
        assert svc.metadata.labels == {"app": name, "version": "v1"}
        assert [(p.name, p.port) for p in svc.spec.ports] == [("http", 9080)]


def test_export_and_import_by_name_alias_label_selector_and_as_local(fed):
    a, b = fed
    _put(a, ESS, B, {"exportRules": [RATINGS_BY_NAME, REVIEWS_BY_LABEL]})
    _put(
        b,
        ISS,
        A,
        {
            "importRules": [
                {
                    "type": "NameSelector",
                    "importAsLocal": True,
                    "nameSelector": {
                        "namespace": "shared",
                        "name": "a-ratings",
                        "alias": {"namespace": B_APPS},
                    },
                }
            ]
        },
    )
    exported = [
        {"exportedName": RATINGS_FQDN, "localService": _local("ratings", A_APPS)},
        {"exportedName": REVIEWS_FQDN, "localService": _local("reviews", A_APPS)},
    ]
    _wait_set(a, ESS, B, _status("exportedServices", exported), "listed ratings and reviews")
    imported = [
        {"exportedName": RATINGS_FQDN, "localService": _local("a-ratings", B_APPS)},
        {"exportedName": REVIEWS_FQDN, "localService": EMPTY},  # exported, not imported
    ]
    _wait_set(b, ISS, A, _status("importedServices", imported), "imported ratings as local")

    # The exporter stops exporting reviews: beta-mesh learns it from the watch stream.
    _put(a, ESS, B, {"exportRules": [RATINGS_BY_NAME]})
    _wait_set(b, ISS, A, _status("importedServices", imported[:1]), "dropped reviews")
    _wait_set(a, ESS, B, _status("exportedServices", exported[:1]), "dropped reviews")
    # The status writer coalesces bursts, so the peer's status may show the event a moment
    # after the set's: wait for it rather than read once.
    b.wait_peer(A, lambda smp: any(e["watch"].get("lastEvent") for e in entries(smp, "active")),
                "recorded the change as a watch event (watch.lastEvent)")


def test_services_and_members_added_later_are_exported(fed):
    a, b = fed
    extra = f"{A}-more"
    _put(
        a,
        ESS,
        B,
        {"exportRules": [{"type": "NameSelector", "nameSelector": {"name": "stars"}}]},
    )
    _put(b, ISS, A, {"importRules": []})
    try:
        a.core.create_namespace({"metadata": {"name": extra}})
        for ns in (A_APPS, extra):
            a.core.create_namespaced_service(
                ns,
                {
                    "metadata": {"name": "stars", "labels": {"app": "stars"}},
                    "spec": {"ports": [{"name": "http", "port": 9080}]},
                },
            )
        stars = f"stars.{A_APPS}.svc.{B}-exports.local"
        _wait_set(
            a,
            ESS,
            B,
            _status(
                "exportedServices",
                [{"exportedName": stars, "localService": _local("stars", A_APPS)}],
            ),
            "exported the new service of the member namespace only",
        )
        a.custom.patch_namespaced_custom_object(
            "maistra.io",
            "v1",
            a.namespace,
            "servicemeshmemberrolls",
            "default",
            {"spec": {"members": [A_APPS, extra]}},
        )
        more = f"stars.{extra}.svc.{B}-exports.local"
        _wait_set(
            b,
            ISS,
            A,
            _status(
                "importedServices",
                [
                    {"exportedName": stars, "localService": EMPTY},
                    {"exportedName": more, "localService": EMPTY},
                ],
            ),
            "listed the service of the new member (not imported: no rule)",
        )
    finally:
        a.custom.patch_namespaced_custom_object(
            "maistra.io",
            "v1",
            a.namespace,
            "servicemeshmemberrolls",
            "default",
            {"spec": {"members": [A_APPS]}},
        )
        a.core.delete_namespaced_service("stars", A_APPS)
        a.core.delete_namespace(extra)
