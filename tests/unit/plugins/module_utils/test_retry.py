"""Bounded retry of transient API failures (client/retry.py) and how cluster.py makes each
repeated request safe: what is repeated, how long it waits, when it gives up and what it says."""

import json

import pytest
from kubernetes.client.rest import ApiException
from kubernetes.dynamic.exceptions import api_exception
from urllib3.exceptions import MaxRetryError, NameResolutionError, NewConnectionError, ProtocolError

from ansible_collections.servicemesh.federation.plugins.module_utils.client import (
    cluster as cluster_mod,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.client.cluster import (
    Cluster,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.client.retry import (
    Policy,
    transient,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.errors import (
    AccessDenied,
    ClusterError,
    ConnectionFailed,
    CredentialsRejected,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.kinds import (
    CONFIGMAP,
)

NAME = "'amber' (https://127.0.0.1:6443)"
TOKEN = "sha256~secret-token-value"
CM = {"apiVersion": "v1", "kind": "ConfigMap",
      "metadata": {"name": "teal-ca-root-cert", "namespace": "amber-system",
                   "labels": {"app.kubernetes.io/managed-by": "servicemesh.federation"}},
      "data": {"root-cert.pem": "PEM"}}


def api_error(status, message, headers=None):
    exc = ApiException(status=status, reason="Reason")
    exc.body = json.dumps({"kind": "Status", "message": message, "code": status})
    exc.headers = {"Content-Type": "application/json", "Authorization": TOKEN, **(headers or {})}
    return api_exception(exc)


def refused():
    return MaxRetryError(None, "/api/v1/namespaces/amber-system/configmaps",
                         reason=NewConnectionError(None, "[Errno 111] Connection refused"))


class Clock:
    """Fake time: sleeping advances it, and every sleep is recorded."""

    def __init__(self):
        self.now = 0.0
        self.slept = []

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds

    def policy(self, **kwargs):
        return Policy(sleep=self.sleep, clock=lambda: self.now, **kwargs)


class Result:
    def __init__(self, obj):
        self.obj = obj

    def to_dict(self):
        return self.obj


class Resource:
    """Answers each verb from a script: one answer per attempt (an exception is raised)."""

    def __init__(self, name="configmaps", group="", **script):
        self.name, self.group = name, group
        self.script = {verb: list(answers) for verb, answers in script.items()}
        self.calls = []

    def _answer(self, verb, kwargs):
        self.calls.append(verb)
        answer = self.script[verb].pop(0)
        if isinstance(answer, BaseException):
            raise answer
        # The dynamic client hands the decoded JSON to the serializer it is given.
        serializer = kwargs.get("serializer")
        return serializer(None, answer) if serializer else Result(answer)

    def get(self, **kwargs):
        return self._answer("get", kwargs)

    def create(self, **kwargs):
        return self._answer("create", kwargs)

    def patch(self, **kwargs):
        return self._answer("patch", kwargs)

    def delete(self, **kwargs):
        return self._answer("delete", kwargs)

    def server_side_apply(self, **kwargs):
        return self._answer("apply", kwargs)


class Server:
    """The API server's /readyz: ready, or answering 500 for the first `not_ready` probes."""

    def __init__(self, not_ready=0):
        self.not_ready = not_ready
        self.probes = 0

    def request(self, method, path, **kwargs):
        assert (method, path) == ("get", "/readyz")
        self.probes += 1
        if self.probes <= self.not_ready:
            raise api_error(500, "[-]informer-sync failed: reason withheld")
        return Result("ok")


class Client:
    def __init__(self, resources, server=None):
        self.resources = resources
        self.client = server or Server()

    def resource(self, kind, api_version):
        return self.resources[kind]


def cluster(clock, **script):
    resource = Resource(**script)
    return Cluster(Client({"ConfigMap": resource}), NAME, clock.policy()), resource


# --- the policy ---------------------------------------------------------------------------------

@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_server_overload_and_outage_statuses_are_transient(status):
    assert transient(ClusterError("c", "r", status=status))


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 410, 422])
def test_answers_about_the_request_itself_are_final(status):
    assert not transient(ClusterError("c", "r", status=status))


def mapped(cause):
    try:
        try:
            raise cause
        except Exception as exc:
            raise ConnectionFailed("c", "cannot reach the API server") from exc
    except ConnectionFailed as error:
        return error


def test_refused_reset_or_broken_connections_are_transient():
    assert transient(mapped(refused()))
    assert transient(mapped(ProtocolError("Connection broken: IncompleteRead")))
    assert transient(mapped(ConnectionResetError(104, "Connection reset by peer")))


def test_tls_and_name_resolution_failures_are_final():
    tls = MaxRetryError(None, "/version", reason=OSError("[SSL: CERTIFICATE_VERIFY_FAILED]"))
    dns = MaxRetryError(None, "/version", reason=NameResolutionError("api.example", None, "x"))
    assert not transient(mapped(tls))
    assert not transient(mapped(dns))


def test_back_off_doubles_and_the_bound_ends_the_tries_with_a_clear_error():
    clock = Clock()
    c, resource = cluster(clock, get=[api_error(500, "etcdserver: request timed out")] * 6)
    with pytest.raises(ClusterError) as failure:
        c.get(CONFIGMAP, "amber-system", "teal-ca-root-cert")
    assert resource.calls == ["get"] * 6  # 6 attempts
    assert clock.slept == [1, 2, 4, 8, 8]
    message = str(failure.value)
    assert message.startswith(f"cluster {NAME}, namespace amber-system: read "
                              "ConfigMap/teal-ca-root-cert: etcdserver: request timed out (500)")
    assert "gave up after 6 attempts in 23s (bound: 6 attempts within 30s)" in message
    assert TOKEN not in message


def test_the_time_budget_ends_the_tries_before_the_attempt_count():
    clock = Clock()
    c, resource = cluster(clock, get=[refused()] * 6)
    c.policy.budget = 10
    with pytest.raises(ConnectionFailed, match="gave up after 4 attempts in 7s"):
        c.list(CONFIGMAP, "amber-system")
    assert clock.slept == [1, 2, 4]  # a wait of 8 more seconds would pass the 10 s budget


def test_retry_after_is_honoured_and_capped():
    clock = Clock()
    busy = api_error(429, "too many requests", {"Retry-After": "3"})
    flooded = api_error(429, "too many requests", {"Retry-After": "120"})
    c, _resource = cluster(clock, get=[busy, flooded, {"items": [], "metadata": {}}])
    assert c.list(CONFIGMAP, "amber-system") == []
    assert clock.slept == [3, 10]


def test_a_final_error_is_not_repeated():
    clock = Clock()
    c, resource = cluster(clock, get=[api_error(422, "invalid")])
    with pytest.raises(ClusterError, match="invalid"):
        c.list(CONFIGMAP, "amber-system")
    assert resource.calls == ["get"] and clock.slept == []


def test_a_brief_outage_is_ridden_out():
    clock = Clock()
    c, resource = cluster(clock, get=[refused(), refused(),
                                      api_error(503, "the server is currently unable"), CM])
    assert c.get(CONFIGMAP, "amber-system", "teal-ca-root-cert") == CM
    assert clock.slept == [1, 2, 4]


# --- safe repeats of writes ---------------------------------------------------------------------

def test_a_repeated_create_that_finds_its_object_reads_it_back():
    clock = Clock()
    # the first create reached etcd but its answer was lost; the repeat finds the object
    created = dict(CM, metadata=dict(CM["metadata"], uid="u-1", resourceVersion="5"))
    c, resource = cluster(clock, create=[api_error(504, "timeout"),
                                         api_error(409, 'configmaps "x" already exists')],
                          get=[created])
    assert c.create(CM) == created
    assert resource.calls == ["create", "create", "get"]
    assert c.writes == 1


def test_a_repeated_create_that_finds_another_object_fails():
    clock = Clock()
    other = dict(CM, data={"root-cert.pem": "SOMEONE ELSE"})
    c, _resource = cluster(clock, create=[api_error(500, "etcdserver: request timed out"),
                                          api_error(409, "already exists")], get=[other])
    with pytest.raises(ClusterError, match="appeared since it was read and differs"):
        c.create(CM)


def test_a_first_create_that_finds_the_planned_object_takes_it():
    """Another run of the same plan created it between our read and our create."""
    clock = Clock()
    theirs = dict(CM, metadata=dict(CM["metadata"], uid="u-2", resourceVersion="7"))
    c, resource = cluster(clock, create=[api_error(409, "already exists")], get=[theirs])
    assert c.create(CM) == theirs
    assert resource.calls == ["create", "get"] and c.writes == 1


def test_a_first_create_that_finds_another_object_is_a_conflict():
    clock = Clock()
    other = dict(CM, data={"root-cert.pem": "SOMEONE ELSE"})
    c, resource = cluster(clock, create=[api_error(409, "already exists")], get=[other])
    with pytest.raises(ClusterError, match="already exists") as caught:
        c.create(CM)
    assert caught.value.status == 409 and "differs from the plan" in str(caught.value)
    assert resource.calls == ["create", "get"]


def test_a_repeated_guarded_patch_that_finds_its_own_change_succeeds():
    clock = Clock()
    patch = {"metadata": {"labels": CM["metadata"]["labels"], "resourceVersion": "4"},
             "data": {"root-cert.pem": "PEM", "old-key": None}}
    now = dict(CM, metadata=dict(CM["metadata"], resourceVersion="5"))
    c, resource = cluster(clock, patch=[ConnectionResetError(104, "reset"),
                                        api_error(409, "the object has been modified")],
                          get=[now])
    assert c.patch(CONFIGMAP, "amber-system", "teal-ca-root-cert", patch) == now
    assert resource.calls == ["patch", "patch", "get"]


def test_a_repeated_guarded_patch_that_finds_someone_elses_change_fails():
    clock = Clock()
    patch = {"metadata": {"resourceVersion": "4"}, "data": {"root-cert.pem": "NEW"}}
    c, _resource = cluster(clock, patch=[api_error(503, "unavailable"),
                                         api_error(409, "the object has been modified")],
                           get=[CM])
    with pytest.raises(ClusterError, match="has been modified"):
        c.patch(CONFIGMAP, "amber-system", "teal-ca-root-cert", patch)


def test_a_repeated_delete_that_finds_the_object_gone_deleted_it():
    clock = Clock()
    c, _resource = cluster(clock, delete=[api_error(500, "etcd"), api_error(404, "not found")])
    assert c.delete(CONFIGMAP, "amber-system", "teal-ca-root-cert", uid="u-1") is True


# --- what a denied request says -----------------------------------------------------------------

def test_rejected_token_says_log_in_again_and_never_shows_it():
    clock = Clock()
    c, resource = cluster(clock, get=[api_error(401, "Unauthorized")])
    with pytest.raises(CredentialsRejected) as failure:
        c.list(CONFIGMAP, "amber-system")
    message = str(failure.value)
    assert message.startswith(f"cluster {NAME}, namespace amber-system: list ConfigMap: ")
    assert "rejected the credentials (401 Unauthorized)" in message
    assert "wrong, expired or revoked; log in again" in message
    assert TOKEN not in message
    assert resource.calls == ["get"]  # not repeated


def test_forbidden_names_the_rbac_verb_resource_and_namespace():
    clock = Clock()
    c, _resource = cluster(clock, patch=[api_error(
        403, 'configmaps "teal-ca-root-cert" is forbidden: User "federation-automation" cannot '
             'patch resource "configmaps" in API group "" in the namespace "amber-system"')])
    with pytest.raises(AccessDenied) as failure:
        c.patch(CONFIGMAP, "amber-system", "teal-ca-root-cert", {"data": {}})
    message = str(failure.value)
    assert message.startswith(f"cluster {NAME}, namespace amber-system: update "
                              "ConfigMap/teal-ca-root-cert: not allowed (403 Forbidden): this "
                              "identity may not patch configmaps in namespace amber-system")


# --- watch --------------------------------------------------------------------------------------

class BrokenWatch:
    """The first stream delivers one event and breaks (API server stopping); the next one, opened
    from that event's resourceVersion, delivers the rest."""

    opened = []

    def stream(self, _get, **kwargs):
        BrokenWatch.opened.append(kwargs["resource_version"])
        if len(BrokenWatch.opened) == 1:
            yield {"type": "MODIFIED", "raw_object": {"metadata": {"name": "a",
                                                                   "resourceVersion": "11"}}}
            raise ProtocolError("Response ended prematurely")
        if len(BrokenWatch.opened) == 2:
            raise refused()
        yield {"type": "ADDED", "raw_object": {"metadata": {"name": "b",
                                                            "resourceVersion": "12"}}}

    def stop(self):
        pass


def test_a_broken_watch_is_opened_again_from_the_last_event(monkeypatch):
    monkeypatch.setattr(cluster_mod, "Watch", BrokenWatch)
    BrokenWatch.opened = []
    clock = Clock()
    c, _resource = cluster(clock)
    events = [(t, o["metadata"]["name"]) for t, o in c.watch(CONFIGMAP, "amber-system", "10", 60)]
    assert events == [("MODIFIED", "a"), ("ADDED", "b")]
    assert BrokenWatch.opened == ["10", "11", "11"]
    assert clock.slept == [1, 2]


def test_repeats_that_succeeded_are_reported_as_a_warning():
    clock = Clock()
    c, _resource = cluster(clock, get=[refused(), CM])
    assert c.repeated() is None
    c.get(CONFIGMAP, "amber-system", "teal-ca-root-cert")
    warning = c.repeated()
    assert warning.startswith(f"1 request(s) to cluster {NAME} failed transiently and were "
                              "repeated (bound: 6 attempts within 30s); the last failure: ")
    assert "read ConfigMap/teal-ca-root-cert: cannot reach the API server" in warning


def test_the_environment_sets_another_time_bound(monkeypatch):
    monkeypatch.setenv("FEDERATION_API_RETRY_SECONDS", "90")
    policy = Policy.configured()
    assert (policy.budget, policy.describe()) == (
        90, "attempts within 90s (FEDERATION_API_RETRY_SECONDS)")
    monkeypatch.setenv("FEDERATION_API_RETRY_SECONDS", "0")
    assert Policy.configured().attempts == 1  # no retry
    monkeypatch.setenv("FEDERATION_API_RETRY_SECONDS", "soon")
    with pytest.raises(ValueError, match="must be a number of seconds, not 'soon'"):
        Policy.configured()
    monkeypatch.delenv("FEDERATION_API_RETRY_SECONDS")
    assert Policy.configured().describe() == "6 attempts within 30s"


def test_a_403_from_an_api_server_still_starting_is_repeated_until_it_is_ready():
    clock = Clock()
    resource = Resource(get=[api_error(403, "forbidden")] * 2 + [{"items": [], "metadata": {}}])
    server = Server(not_ready=2)
    c = Cluster(Client({"ConfigMap": resource}, server), NAME, clock.policy())
    assert c.list(CONFIGMAP, "amber-system") == []
    assert resource.calls == ["get"] * 3 and server.probes == 2


def test_a_403_from_a_ready_api_server_is_final():
    clock = Clock()
    server = Server()
    resource = Resource(get=[api_error(403, "forbidden")])
    c = Cluster(Client({"ConfigMap": resource}, server), NAME, clock.policy())
    with pytest.raises(AccessDenied):
        c.list(CONFIGMAP, "amber-system")
    assert server.probes == 1 and clock.slept == []
