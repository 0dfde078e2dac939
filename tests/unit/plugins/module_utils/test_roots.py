"""The root-change gate: fingerprints, CA / expiry checks, the decision, and what the copies
record (module_utils/logic/certs.py, roots.py, mesh_facts.py root copies, peers.py annotation)."""

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from test_peers import NS, actions, params, peer_facts

from ansible_collections.servicemesh.federation.plugins.module_utils.logic.certs import (
    parse_root_cert,
    root_cert_problems,
    root_fingerprint,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.errors import (
    PlanError,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.naming import (
    MANAGED_BY,
    ROOT_FINGERPRINT_ANNOTATION,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.plan import (
    build_plan,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.roots import (
    accepted_meshes,
    gate,
    gate_from_hostvars,
    root_changes,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.service.mesh_facts import (
    _root_copies,
    peer_gateways,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.service.peers import (
    converge,
    desired_from_params,
)

NOW = datetime.datetime(2026, 11, 30, 12, 0, tzinfo=datetime.UTC)


def cert(name, days=3650, ca=True, constraints=True):
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(NOW - datetime.timedelta(days=30))
               .not_valid_after(NOW + datetime.timedelta(days=days)))
    if constraints:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=None),
                                        critical=True)
    return builder.sign(key, hashes.SHA256())


def pem(*certs):
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certs)


OLD, NEW, OTHER = cert("blue old root"), cert("blue new root"), cert("green root")


# -- fingerprints and checks ----------------------------------------------------------------

def test_fingerprint_is_the_sha256_of_each_certificate_in_order():
    assert root_fingerprint(pem(OLD)) == OLD.fingerprint(hashes.SHA256()).hex()
    assert root_fingerprint(pem(OLD, NEW)) == ",".join(
        c.fingerprint(hashes.SHA256()).hex() for c in (OLD, NEW))
    # Text around the PEM blocks is not the root.
    assert root_fingerprint("\n" + pem(OLD) + "\n\n") == root_fingerprint(pem(OLD))


def test_a_good_root_has_no_problem():
    assert root_cert_problems(parse_root_cert(pem(OLD)), 30, NOW) == []


@pytest.mark.parametrize("root, expected", [
    (cert("leaf", ca=False), "is not a CA certificate (basicConstraints CA is false"),
    (cert("no constraints", constraints=False), "is not a CA certificate"),
    (cert("expired", days=-2), "expired on"),
    (cert("soon", days=10), "in 10 day(s), within federation_root_min_days (30)"),
])
def test_unusable_roots_are_problems(root, expected):
    (problem,) = root_cert_problems(parse_root_cert(pem(root)), 30, NOW)
    assert expected in problem
    assert root.subject.rfc4514_string() in problem


def test_min_days_zero_accepts_a_root_that_has_not_expired():
    assert root_cert_problems(parse_root_cert(pem(cert("soon", days=3))), 0, NOW) == []


def test_each_certificate_of_a_bundle_is_checked_and_named():
    problems = root_cert_problems(parse_root_cert(pem(OLD, cert("leaf", ca=False))), 30, NOW)
    assert problems == [
        "certificate 2 (CN=leaf) is not a CA certificate (basicConstraints CA is false or "
        "missing): peers cannot use it as a root"]


# -- the decision -----------------------------------------------------------------------------

def plan_meshes(links=None):
    conn = {"host": "https://127.0.0.1:6443", "api_key": "x"}
    meshes = {name: {"mesh_cluster": dict(conn, name=f"{name}-cluster")}
              for name in ("blue", "green", "red")}
    return build_plan(meshes, links)["meshes"]


def facts(blue_root, copies_of_blue):
    """blue's current root; green's and red's copies of it (None: no copy)."""
    result = {"blue": {"root_cert": {"fingerprint": root_fingerprint(pem(blue_root))},
                       "root_copies": {}},
              "green": {"root_cert": {"fingerprint": root_fingerprint(pem(OTHER))},
                        "root_copies": {}},
              "red": {"root_cert": None, "root_copies": {}}}
    for holder, copy in copies_of_blue.items():
        if copy is not None:
            result[holder]["root_copies"]["blue"] = dict(copy, configmap="blue-ca-root-cert")
    return result


def recorded(root):
    fingerprint = root_fingerprint(pem(root))
    return {"recorded": fingerprint, "content": fingerprint}


def test_same_root_everywhere_is_no_change():
    assert root_changes(plan_meshes(), facts(OLD, {"green": recorded(OLD),
                                                   "red": recorded(OLD)})) == []


def test_no_copies_yet_is_no_change():
    assert root_changes(plan_meshes(), facts(NEW, {})) == []


def test_a_rotated_root_is_a_change_naming_every_holder_with_old_and_new():
    (change,) = root_changes(plan_meshes(), facts(NEW, {"green": recorded(OLD),
                                                        "red": recorded(OLD)}))
    assert change["mesh"] == "blue"
    assert change["cluster"] == "blue-cluster"
    assert change["new"] == NEW.fingerprint(hashes.SHA256()).hex()
    assert [(h["mesh"], h["namespace"], h["old"]) for h in change["holders"]] == [
        ("green", "green-system", OLD.fingerprint(hashes.SHA256()).hex()),
        ("red", "red-system", OLD.fingerprint(hashes.SHA256()).hex())]


def test_the_recorded_fingerprint_counts_not_the_content():
    # The copy's content was edited by someone, but it records the current root: the run
    # restores the recorded root, which is no new trust.
    copy = {"recorded": root_fingerprint(pem(NEW)), "content": root_fingerprint(pem(OTHER))}
    assert root_changes(plan_meshes(), facts(NEW, {"green": copy})) == []


def test_unannotated_copy_equal_to_the_root_is_recorded_without_a_gate():
    copy = {"recorded": None, "content": root_fingerprint(pem(OLD))}
    assert root_changes(plan_meshes(), facts(OLD, {"green": copy})) == []


def test_unannotated_copy_of_another_root_is_a_change():
    copy = {"recorded": None, "content": root_fingerprint(pem(OLD))}
    (change,) = root_changes(plan_meshes(), facts(NEW, {"green": copy}))
    assert change["holders"][0]["recorded"] is False
    unreadable = {"recorded": None, "content": None}
    (change,) = root_changes(plan_meshes(), facts(NEW, {"green": unreadable}))
    assert change["holders"][0]["old"] == "<no readable certificate>"


def test_a_holder_without_a_link_to_the_mesh_is_not_asked():
    meshes = plan_meshes([["blue", "red"]])
    assert root_changes(meshes, facts(NEW, {"green": recorded(OLD)})) == []


@pytest.mark.parametrize("value, expected", [
    (True, {"blue", "green", "red"}), ("yes", {"blue", "green", "red"}), (False, set()),
    (None, set()), ("false", set()), (["blue"], {"blue"}), ([], set()),
])
def test_accepted_meshes(value, expected):
    assert accepted_meshes(value, ["blue", "green", "red"]) == expected


def test_gate_refuses_with_old_and_new_fingerprints_and_the_variable_to_set():
    decision = gate(plan_meshes(), facts(NEW, {"green": recorded(OLD)}), False)
    assert decision["refused"] == ["blue"]
    assert decision["accepted"] == []
    text = "\n".join(decision["lines"])
    assert text.startswith("stopped before any write on any mesh")
    assert "federation_accept_root_change: [blue]" in text
    assert f"old sha256 {OLD.fingerprint(hashes.SHA256()).hex()}" in text
    assert f"new sha256 {NEW.fingerprint(hashes.SHA256()).hex()}" in text
    assert "green (green-system/blue-ca-root-cert)" in text


@pytest.mark.parametrize("accept", [["blue"], True, "true"])
def test_gate_passes_an_accepted_change_and_says_so(accept):
    decision = gate(plan_meshes(), facts(NEW, {"green": recorded(OLD)}), accept)
    assert decision["refused"] == []
    assert decision["accepted"] == ["blue"]
    assert "copies the new root of blue" in decision["lines"][0]


def test_accepting_another_mesh_does_not_accept_this_one():
    assert gate(plan_meshes(), facts(NEW, {"green": recorded(OLD)}), ["green"])["refused"] == [
        "blue"]


def test_check_mode_words_what_a_real_run_would_do():
    decision = gate(plan_meshes(), facts(NEW, {"green": recorded(OLD)}), False, check_mode=True)
    assert decision["refused"] == ["blue"]
    assert decision["lines"][0].startswith("check mode: a real run would stop before any write")


def test_gate_from_hostvars_reads_each_hosts_inspection():
    meshes = plan_meshes()
    by_mesh = facts(NEW, {"green": recorded(OLD)})
    hostvars = {name: {"federation_plan_mesh": {"name": name},
                       "federation_inspect_mesh": by_mesh[name]} for name in meshes}
    decision = gate_from_hostvars({"meshes": meshes}, list(meshes), hostvars, False)
    assert decision["refused"] == ["blue"]


# -- what the copies record ---------------------------------------------------------------

def configmap(name, root_pem, annotations=None):
    meta = {"name": name, "namespace": NS, "labels": dict(MANAGED_BY)}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta,
            "data": {"root-cert.pem": root_pem}}


def test_mesh_facts_reads_each_peers_copy_with_its_recorded_fingerprint(cluster):
    cluster.put(configmap("green-ca-root-cert", pem(OTHER),
                          {ROOT_FINGERPRINT_ANNOTATION: "recorded-value"}))
    cluster.put(configmap("blue-ca-root-cert", "garbage"))
    cluster.put(configmap("unrelated", pem(OLD)))
    foreign = configmap("pink-ca-root-cert", pem(OLD))
    del foreign["metadata"]["labels"]  # someone else's: the apply's foreign-object check
    cluster.put(foreign)
    copies = _root_copies(cluster, NS, peer_gateways([{"peer": "green"}, {"peer": "blue"},
                                                      {"peer": "pink"}]))
    assert copies == {
        "green": {"configmap": "green-ca-root-cert", "recorded": "recorded-value",
                  "content": root_fingerprint(pem(OTHER))},
        "blue": {"configmap": "blue-ca-root-cert", "recorded": None, "content": None}}


def run(cluster, **overrides):
    p = params(**overrides)
    return converge(cluster, p, False, desired_from_params(p))


def test_each_copy_records_the_fingerprint_of_the_root_it_holds(cluster):
    run(cluster)
    for peer, root in peer_facts().items():
        cm = cluster.object("ConfigMap", NS, f"{peer}-ca-root-cert")
        assert cm["metadata"]["annotations"] == {
            ROOT_FINGERPRINT_ANNOTATION: root_fingerprint(root["root_cert"])}


def test_a_copy_made_before_the_annotation_is_recorded_without_reconfiguring_its_peer(cluster):
    run(cluster)
    del cluster.object("ConfigMap", NS, "green-ca-root-cert")["metadata"]["annotations"]
    cluster.requests.clear()
    result = run(cluster)
    assert ("ConfigMap", "green-ca-root-cert", "updated") in actions(result)
    assert cluster.writes_sent() == [("patch", "ConfigMap", "green-ca-root-cert")]
    assert result["reconfigured"] == {}  # the root istiod reads did not change
    assert run(cluster)["writes"] == 0


def test_an_accepted_new_root_updates_content_and_fingerprint_and_reconfigures_the_peer(cluster):
    run(cluster)
    facts_now = peer_facts()
    facts_now["green"]["root_cert"] = pem(NEW)
    result = run(cluster, peer_facts=facts_now)
    cm = cluster.object("ConfigMap", NS, "green-ca-root-cert")
    assert cm["data"]["root-cert.pem"] == pem(NEW)
    assert cm["metadata"]["annotations"][ROOT_FINGERPRINT_ANNOTATION] == root_fingerprint(
        pem(NEW))
    assert "green" in result["reconfigured"]
    (diff,) = result["diff"]
    assert diff["before"]["metadata"]["annotations"] != diff["after"]["metadata"]["annotations"]


# -- the variables, checked by the plan before any login ------------------------------------

def plan_problems(settings, outside=()):
    conn = {"host": "https://127.0.0.1:6443", "api_key": "x"}
    meshes = {name: {"mesh_cluster": conn} for name in ("blue", "green")}
    try:
        build_plan(meshes, None, settings=settings, outside=outside,
                   variables=list(settings))
    except PlanError as exc:
        return exc.problems
    return []


@pytest.mark.parametrize("settings", [
    {"federation_accept_root_change": True}, {"federation_accept_root_change": "false"},
    {"federation_accept_root_change": ["blue"]}, {"federation_accept_root_change": []},
    {"federation_root_min_days": 0}, {"federation_root_min_days": "45"},
])
def test_valid_root_settings(settings):
    assert plan_problems(settings) == []


@pytest.mark.parametrize("settings, expected", [
    ({"federation_accept_root_change": "blue"},
     "federation_accept_root_change: must be true (accept the new root of every mesh), false, "
     "or a list of the mesh names whose new root you accept, got 'blue'"),
    ({"federation_accept_root_change": ["pink"]},
     "federation_accept_root_change[0]: 'pink' is not a mesh of this run (known meshes: blue, "
     "green)"),
    ({"federation_accept_root_change": ["blue", "blue"]},
     "federation_accept_root_change[1]: 'blue' is listed twice"),
    ({"federation_accept_root_change": [3]},
     "federation_accept_root_change[0]: must be a mesh name, got 3"),
    ({"federation_root_min_days": -1},
     "federation_root_min_days: must be a whole number of days (0 or more), got -1"),
    ({"federation_root_min_days": "a month"},
     "federation_root_min_days: must be a whole number of days (0 or more), got 'a month'"),
    ({"federation_root_min_days": True},
     "federation_root_min_days: must be a whole number of days (0 or more), got True"),
])
def test_bad_root_settings_are_refused_naming_the_variable(settings, expected):
    (problem,) = plan_problems(settings)
    assert problem.startswith(expected)


def test_accepting_a_mesh_left_out_by_limit_says_so():
    (problem,) = plan_problems({"federation_accept_root_change": ["pink"]}, outside=["pink"])
    assert "(left out of this run by --limit)" in problem


def test_a_near_miss_of_the_accept_variable_is_a_typo():
    conn = {"host": "https://127.0.0.1:6443", "api_key": "x"}
    with pytest.raises(PlanError) as info:
        build_plan({"blue": {"mesh_cluster": conn}}, None,
                   variables=["federation_accept_root_changes"])
    assert "did you mean federation_accept_root_change?" in info.value.problems[0]
