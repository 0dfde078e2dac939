"""The client layer (module_utils/client/cluster.py): what every write asks of the API server, and
how client exceptions become errors that name the cluster, namespace, object and reason."""

import json

import pytest
from kubernetes.client.rest import ApiException
from kubernetes.dynamic.exceptions import ResourceNotFoundError, api_exception
from urllib3.exceptions import MaxRetryError, NewConnectionError

from ansible_collections.servicemesh.federation.plugins.module_utils.client.cluster import (
    Cluster,
    describe,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.client.retry import Policy
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.errors import (
    AccessDenied,
    ClusterError,
    ConnectionFailed,
    CredentialsRejected,
    NotServed,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.kinds import (
    CONFIGMAP,
    SERVICE_MESH_PEER,
)

NAME = "'red' (https://127.0.0.1:6443)"
NO_WAIT = Policy(sleep=lambda _seconds: None)  # transient failures are retried without sleeping
TOKEN = "sha256~secret-token-value"


def api_error(status, message, reason=None, causes=()):
    exc = ApiException(status=status, reason="Reason")
    exc.body = json.dumps({"kind": "Status", "message": message, "code": status,
                           "reason": reason, "details": {"causes": [{"reason": c}
                                                                    for c in causes]}})
    # response headers are never part of the message
    exc.headers = {"Content-Type": "application/json", "X-Echo": TOKEN}
    return api_exception(exc)


class Result:
    def __init__(self, obj):
        self.obj = obj

    def to_dict(self):
        return self.obj


class FakeResource:
    def __init__(self, answers):
        self.calls = []
        self.answers = answers

    def _answer(self, verb, kwargs):
        self.calls.append((verb, kwargs))
        answer = self.answers.get(verb, {})
        if isinstance(answer, Exception):
            raise answer
        # The dynamic client hands the decoded JSON to the serializer it is given.
        serializer = kwargs.get("serializer")
        return serializer(None, answer) if serializer else Result(answer)

    def create(self, **kwargs):
        return self._answer("create", kwargs)

    def patch(self, **kwargs):
        return self._answer("patch", kwargs)

    def get(self, **kwargs):
        return self._answer("get", kwargs)

    def delete(self, **kwargs):
        return self._answer("delete", kwargs)

    def server_side_apply(self, **kwargs):
        return self._answer("apply", kwargs)


class ReadyServer:
    def request(self, method, path, **kwargs):
        return Result("ok")  # /readyz: a 401 / 403 is final


class FakeK8SClient:
    def __init__(self, resources):
        self.resources = resources
        self.client = ReadyServer()

    def resource(self, kind, api_version):
        if kind not in self.resources:
            raise ResourceNotFoundError(f"No matches found for {kind}")
        return self.resources[kind]


def cluster_with(**answers):
    """A Cluster whose ConfigMap and ServiceMeshPeer resources answer from `answers`."""
    resource = FakeResource(answers)
    return Cluster(FakeK8SClient({"ConfigMap": resource, "ServiceMeshPeer": resource}), NAME,
                   NO_WAIT)


def calls(cluster):
    return cluster.client.resources["ConfigMap"].calls


CM = {"apiVersion": "v1", "kind": "ConfigMap",
      "metadata": {"name": "green-ca-root-cert", "namespace": "red-system"}}


def test_create_asks_for_strict_validation_with_our_field_manager():
    cluster = cluster_with(create=CM)
    cluster.create(CM)
    cluster.create(CM)
    first, second = (kwargs for _verb, kwargs in calls(cluster))
    assert first["field_manager"] == "servicemesh.federation"
    assert first["query_params"] == [("fieldValidation", "Strict")]
    # the dynamic client appends to query_params: every request needs its own list
    assert first["query_params"] is not second["query_params"]
    assert cluster.writes == 2


def test_patch_is_a_strict_merge_patch():
    cluster = cluster_with(patch=CM)
    cluster.patch(CONFIGMAP, "red-system", "green-ca-root-cert", {"data": {"k": "v"}})
    ((_verb, sent),) = calls(cluster)
    assert sent["content_type"] == "application/merge-patch+json"
    assert sent["field_manager"] == "servicemesh.federation"
    assert sent["query_params"] == [("fieldValidation", "Strict")]
    assert sent["body"] == {"data": {"k": "v"}}


def test_strict_validation_rejection_names_the_object_and_field():
    cluster = cluster_with(create=api_error(
        400, 'ServiceMeshPeer in version "v1" cannot be handled: strict decoding error: '
             'unknown field "spec.remote.adresses"'))
    with pytest.raises(ClusterError) as failure:
        cluster.create(dict(CM, kind="ServiceMeshPeer", apiVersion="federation.maistra.io/v1"))
    message = str(failure.value)
    assert message.startswith(f"cluster {NAME}, namespace red-system: create "
                              "ServiceMeshPeer/green-ca-root-cert: ")
    assert 'unknown field "spec.remote.adresses" (400)' in message
    assert TOKEN not in message


@pytest.mark.parametrize("status, error", [(401, CredentialsRejected), (403, AccessDenied)])
def test_rejected_credentials_or_permissions_are_typed(status, error):
    cluster = cluster_with(get=api_error(status, "configmaps is forbidden"))
    with pytest.raises(error, match=f"configmaps is forbidden \\({status}\\)"):
        cluster.get(CONFIGMAP, "red-system", "x")


def test_absent_object_is_none_and_gone_delete_is_false():
    cluster = cluster_with(get=api_error(404, "not found"), delete=api_error(404, "not found"))
    assert cluster.get(CONFIGMAP, "red-system", "x") is None
    assert cluster.delete(CONFIGMAP, "red-system", "x") is False


def test_delete_is_guarded_by_uid():
    cluster = cluster_with(delete={})
    assert cluster.delete(CONFIGMAP, "red-system", "x", uid="u-1") is True
    ((_verb, sent),) = calls(cluster)
    assert sent["body"]["preconditions"] == {"uid": "u-1"}


def test_unreachable_server_is_a_connection_failure():
    refused = MaxRetryError(None, "/api/v1/namespaces/red-system/configmaps",
                            reason=NewConnectionError(None, "Connection refused"))
    cluster = cluster_with(get=refused)
    with pytest.raises(ConnectionFailed, match="cannot reach the API server: .*Connection refused.*"
                                               "gave up after 6 attempts"):
        cluster.list(CONFIGMAP, "red-system")


def test_kind_not_served():
    cluster = Cluster(FakeK8SClient({}), NAME)
    assert cluster.serves(*SERVICE_MESH_PEER) is False
    with pytest.raises(NotServed, match="does not serve this kind"):
        cluster.get(SERVICE_MESH_PEER, "red-system", "green")


def test_list_returns_items_and_resource_version():
    cluster = cluster_with(get={"items": [CM], "metadata": {"resourceVersion": "42"}})
    assert cluster.list_versioned(CONFIGMAP, "red-system") == ([CM], "42")


def test_cluster_is_named_by_context_and_host():
    assert describe({"context": "red", "host": None}, "https://h:6443") == "'red' (https://h:6443)"
    assert describe({"context": None, "host": "https://h:6443"}) == "'https://h:6443'"


def test_rejected_token_says_so():
    cluster = cluster_with(get=api_error(401, "Unauthorized"))
    with pytest.raises(CredentialsRejected, match="the API server rejected the credentials"):
        cluster.list(CONFIGMAP, "red-system")


def test_untrusted_server_certificate_points_at_ca_cert():
    untrusted = MaxRetryError(None, "/version", reason=OSError(
        "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer"))
    cluster = cluster_with(get=untrusted)
    with pytest.raises(ConnectionFailed, match="TLS verification failed \\(ca_cert"):
        cluster.list(CONFIGMAP, "red-system")


SMCP = {"apiVersion": "maistra.io/v2", "kind": "ServiceMeshControlPlane",
        "metadata": {"name": "basic", "namespace": "red-system", "resourceVersion": "7"},
        "spec": {"gateways": {"additionalIngress": {"ingress-green": {"enabled": True}}}}}


def smcp_cluster(**answers):
    resource = FakeResource(answers)
    return Cluster(FakeK8SClient({"ServiceMeshControlPlane": resource}), NAME, NO_WAIT), resource


def test_apply_is_a_strict_server_side_apply_with_our_field_manager():
    cluster, resource = smcp_cluster(apply=SMCP)
    assert cluster.apply(SMCP) == SMCP
    cluster.apply(SMCP, force=True)
    (_verb, sent), (_verb2, forced) = resource.calls
    assert sent["body"] == SMCP
    assert (sent["name"], sent["namespace"]) == ("basic", "red-system")
    assert sent["field_manager"] == "servicemesh.federation"
    assert sent["query_params"] == [("fieldValidation", "Strict")]
    assert sent["force_conflicts"] is None  # no force parameter at all
    assert forced["force_conflicts"] is True
    assert cluster.writes == 2


def test_apply_conflict_names_the_other_manager_and_fields():
    cluster, _api = smcp_cluster(apply=api_error(
        409, 'Apply failed with 1 conflict: conflict with "kubectl-edit" using maistra.io/v2: '
             ".spec.gateways.additionalIngress.ingress-green.service.type",
        reason="Conflict", causes=["FieldManagerConflict"]))
    with pytest.raises(ClusterError) as failure:
        cluster.apply(SMCP)
    message = str(failure.value)
    assert "apply ServiceMeshControlPlane/basic" in message
    assert '"kubectl-edit"' in message and "ingress-green.service.type" in message
    assert "take_over" in message
    assert failure.value.status == 409
    assert cluster.writes == 1


def test_apply_on_a_changed_object_says_to_run_again():
    cluster, _api = smcp_cluster(apply=api_error(
        409, 'Operation cannot be fulfilled on servicemeshcontrolplanes.maistra.io "basic": the '
             "object has been modified; please apply your changes to the latest version",
        reason="Conflict"))
    with pytest.raises(ClusterError, match="changed since it was read"):
        cluster.apply(SMCP)


def test_apply_admission_denial_is_the_api_message():
    denial = ('servicemeshcontrolplanes.maistra.io "basic" is invalid: ValidatingAdmissionPolicy '
              "'smcp-gateways' denied request: multiple gateways defined for "
              '"red-system/ingress-green"')
    cluster, _api = smcp_cluster(apply=api_error(422, denial))
    with pytest.raises(ClusterError) as failure:
        cluster.apply(SMCP)
    assert 'multiple gateways defined for "red-system/ingress-green" (422)' in str(failure.value)
    assert TOKEN not in str(failure.value)
