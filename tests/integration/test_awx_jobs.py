"""federate.yml and verify.yml run as AWX runs jobs (ansible-runner, private data dir built by
AWX's rules, credentials from extensions/awx/credential_types/ injected as AWX injects them; see
awx_job.py) against the shared 3-mesh lab: one credential for every cluster, no kubeconfig path
in the inventory, the matrix in the job's artifacts, artifacts passed to the next workflow node,
a failed run's artifacts, username + password through the passwords credential, and a
single-cluster run with the built-in bearer-token credential. No secret in any event or stdout.

The tests run in file order and share the lab; lab3 leaves it unfederated.
"""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
import yaml
from ansible_run import load_inventory, mesh_hosts
from awx_job import (
    BEARER_TOKEN,
    REPO,
    Credential,
    load_credential_type,
    run_job,
)
from common import AUTOMATION_USER, lab_dir

MESHES = ["blue-mesh", "green-mesh", "red-mesh"]
INVENTORY_PLUGIN = REPO / "plugins" / "inventory" / "meshes.py"
# Artifacts of the federate job, for the verify job (the next workflow node).
ARTIFACTS: dict = {}


def self_contained(kubeconfig_path: str) -> tuple[str, dict]:
    """The lab kubeconfig as a user pastes it into a credential: CA inline, not a local path."""
    config = yaml.safe_load(Path(kubeconfig_path).read_text())
    for cluster in config["clusters"]:
        ca = cluster["cluster"].pop("certificate-authority", None)
        if ca:
            cluster["cluster"]["certificate-authority-data"] = base64.b64encode(
                Path(ca).read_bytes()).decode()
    return yaml.safe_dump(config), config


@pytest.fixture(scope="module")
def clusters_credential(lab3):
    text, config = self_contained(lab3.kubeconfig)
    cred = Credential(load_credential_type("federation_clusters"), {"kubeconfig": text})
    tokens = [u["user"]["token"] for u in config["users"] if u["user"].get("token")]
    assert len(tokens) == 2 * len(MESHES)
    return cred, [text, *tokens]


@pytest.fixture(scope="module")
def static_inventory(lab3, tmp_path_factory) -> Path:
    """The lab inventory without any kubeconfig path: each mesh names only its context."""
    inventory = load_inventory(lab3.inventory)
    for hostvars in mesh_hosts(inventory).values():
        del hostvars["mesh_cluster"]["kubeconfig"]
        assert hostvars["mesh_cluster"]["context"].endswith("-automation")
        for key in ("ansible_connection", "ansible_python_interpreter"):
            hostvars.pop(key, None)  # the playbooks set both
    path = tmp_path_factory.mktemp("awx") / "meshes.yml"
    path.write_text(yaml.safe_dump(inventory, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def mesh_inventory(static_inventory, tmp_path_factory) -> Path:
    """The inventory source of the job: the meshes inventory plugin when the collection has it
    (an AWX inventory source with the same credential), else the static inventory."""
    if not INVENTORY_PLUGIN.exists():
        return static_inventory
    path = tmp_path_factory.mktemp("awx-source") / "federation.meshes.yml"
    path.write_text(yaml.safe_dump({"plugin": "servicemesh.federation.meshes",
                                    "contexts": [f"{m}-automation" for m in MESHES]}))
    return path


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("awx-jobs")


def assert_no_secret(job, secrets):
    text = job.text()
    leaked = sum(secret in text for secret in secrets)  # a count: never print the secrets
    assert leaked == 0, f"{leaked} secret value(s) in the job's events or stdout"


def assert_all_connected(matrix):
    assert matrix["failed"] == [] and matrix["all_connected"] is True, matrix
    states = {cell["state"] for row in matrix["cells"].values() for cell in row.values()}
    assert states == {"connected"}, states


def test_single_cluster_with_the_builtin_bearer_token_credential(lab3, tmp_path, workdir):
    """One mesh, its cluster from the built-in "OpenShift or Kubernetes API Bearer Token" type
    (K8S_AUTH_HOST / _API_KEY / _VERIFY_SSL / _SSL_CA_CERT by awx-plugins-core's injector); an
    inventory without mesh_cluster. One mesh plans no direction: the run inspects it and
    reports an empty matrix."""
    state = lab3.state
    cluster = state["meshes"]["red-mesh"]["cluster"]
    config = yaml.safe_load(Path(lab3.kubeconfig).read_text())
    user = next(c["context"]["user"] for c in config["contexts"]
                if c["name"] == lab3.context("red-mesh", admin=False))
    token = next(u["user"]["token"] for u in config["users"] if u["name"] == user)
    cred = Credential(BEARER_TOKEN, {
        "host": state["clusters"][cluster]["server"], "bearer_token": token,
        "verify_ssl": True, "ssl_ca_cert": (lab_dir(lab3) / "pki" / "ca.crt").read_text()})
    inventory = tmp_path / "one-mesh.yml"
    inventory.write_text(yaml.safe_dump({"all": {"children": {"meshes": {"hosts": {
        "red-mesh": {"mesh_namespace": "red-mesh-system"}}}}}}))

    job = run_job("playbooks/federate.yml", credentials=[cred], inventory=inventory,
                  workdir=workdir, verbosity=3, job_id=47)
    assert job.rc == 0, job.explain()
    assert {"K8S_AUTH_API_KEY", "K8S_AUTH_HOST", "K8S_AUTH_SSL_CA_CERT",
            "K8S_AUTH_VERIFY_SSL"} <= set(job.safe_env)
    assert job.artifacts["federation_matrix"]["cells"] == {"red-mesh": {}}
    assert job.safe_env["K8S_AUTH_API_KEY"] == "**********"
    assert job.safe_env["K8S_AUTH_VERIFY_SSL"] == "True"
    inspected = [e for e in job.events if e.get("event") == "runner_on_ok"
                 and e["event_data"].get("host") == "red-mesh"
                 and e["event_data"].get("task_action") == "servicemesh.federation.mesh_info"]
    assert inspected, job.explain()
    assert_no_secret(job, [token])
    assert os.environ.get("K8S_AUTH_API_KEY") is None  # nothing leaked into this process


def test_federate_with_one_credential_for_every_cluster(lab3, clusters_credential,
                                                        mesh_inventory, workdir):
    cred, secrets = clusters_credential
    job = run_job("playbooks/federate.yml", credentials=[cred], inventory=mesh_inventory,
                  workdir=workdir, verbosity=3)
    assert job.rc == 0 and job.status == "successful", job.explain()

    # The matrix reaches AWX as the job's artifacts (playbook_on_stats artifact_data).
    matrix = job.artifacts["federation_matrix"]
    assert sorted(matrix["cells"]) == MESHES
    assert_all_connected(matrix)
    assert_no_secret(job, secrets)

    # As AWX does: the kubeconfig in a 0600 file of env/, its path in K8S_AUTH_KUBECONFIG (in
    # the EE's /runner mount); the secret env never written to env/envvars.
    assert job.safe_env["K8S_AUTH_KUBECONFIG"].startswith("/runner/env/tmp")
    injected = job.private_data_dir / job.safe_env["K8S_AUTH_KUBECONFIG"][len("/runner/"):]
    assert injected.read_text() == secrets[0]
    assert stat.S_IMODE(injected.stat().st_mode) == 0o600
    assert not (job.private_data_dir / "env" / "envvars").exists()
    assert "-vvv" in job.cmdline
    ARTIFACTS.update(job.artifacts)


def test_verify_as_the_next_workflow_node_gets_the_artifacts(
        lab3, clusters_credential, mesh_inventory, workdir):
    if not ARTIFACTS:
        pytest.skip("the federate job did not run")
    cred, secrets = clusters_credential
    # The same inventory as the federate job (a plugin source: no sharing rules).
    job = run_job("playbooks/verify.yml", credentials=[cred], inventory=mesh_inventory,
                  workdir=workdir, extra_vars=ARTIFACTS, job_id=43)
    assert job.rc == 0 and job.status == "successful", job.explain()
    # A workflow's artifacts arrive as extra vars that are never templated (!unsafe).
    assert "federation_matrix: !unsafe" not in job.extravars  # keys are plain, values tagged
    assert "!unsafe 'federation_matrix'" in job.extravars
    assert_all_connected(job.artifacts["federation_matrix"])
    assert_no_secret(job, secrets)  # verbosity 0


def test_failed_run_keeps_the_matrix_and_the_failing_direction(
        lab3, clusters_credential, static_inventory, workdir):
    cred, secrets = clusters_credential
    inventory = load_inventory(static_inventory)
    # red-mesh's peer for green-mesh points at an address nobody serves: red -> green breaks.
    mesh_hosts(inventory)["red-mesh"]["mesh_peers"] = {
        "green-mesh": {"addresses": ["127.254.254.254"]}}
    # No sharing rules, as from the plugin inventory: within 10 s only that direction fails.
    for hostvars in mesh_hosts(inventory).values():
        hostvars.pop("mesh_exports", None)
        hostvars.pop("mesh_imports", None)
    broken = static_inventory.with_name("broken.yml")
    broken.write_text(yaml.safe_dump(inventory, sort_keys=False))

    job = run_job("playbooks/federate.yml", credentials=[cred], inventory=broken,
                  workdir=workdir, extra_vars={"federation_wait_timeout": 10}, job_id=44)
    assert job.rc != 0 and job.status == "failed", job.explain()
    matrix = job.artifacts["federation_matrix"]
    assert matrix["failed"] == [["red-mesh", "green-mesh"]]
    assert matrix["cells"]["red-mesh"]["green-mesh"]["state"] != "connected"
    assert "1 of 6 directions are not connected: red-mesh -> green-mesh" in job.stdout
    assert_no_secret(job, secrets)


def password_setup(lab, tmp_path: Path, leave_out: str | None = None):
    """An inventory with host + username per mesh (no password) and the passwords credential
    keyed by cluster name."""
    state = lab.state
    inventory = load_inventory(lab.inventory)
    passwords = {}
    for host, hostvars in mesh_hosts(inventory).items():
        cluster = state["meshes"][host]["cluster"]
        hostvars.pop("ansible_connection", None)
        hostvars.pop("ansible_python_interpreter", None)
        hostvars["mesh_cluster"] = {
            "host": state["clusters"][cluster]["server"],
            "username": AUTOMATION_USER,
            "ca_cert": str(lab_dir(lab) / "pki" / "ca.crt"),
            # A kube-apiserver cannot serve OpenShift's OAuth metadata: name the OAuth server.
            "oauth_host": state["clusters"][cluster]["oauth_issuer"],
            "name": cluster,
        }
        if cluster != leave_out:
            passwords[cluster] = lab.credentials(cluster)[AUTOMATION_USER]
    path = tmp_path / "password-meshes.yml"
    path.write_text(yaml.safe_dump(inventory, sort_keys=False))
    cred = Credential(load_credential_type("federation_cluster_passwords"),
                      {"passwords": yaml.safe_dump(passwords)})
    return path, cred, list(passwords.values())


def test_a_cluster_missing_from_the_passwords_credential_stops_the_plan(lab3, tmp_path,
                                                                        workdir):
    inventory, cred, passwords = password_setup(lab3, tmp_path, leave_out="blue-mesh")
    job = run_job("playbooks/federate.yml", credentials=[cred], inventory=inventory,
                  workdir=workdir, job_type="check", job_id=45)
    assert job.rc != 0
    assert ("mesh 'blue-mesh': mesh_cluster.password: missing, and the passwords file "
            "(FEDERATION_CLUSTER_PASSWORDS) has no password for cluster 'blue-mesh'") in job.stdout
    # Stopped at the plan: no login was tried.
    assert not any(d.get("task", "").startswith("Obtain a token")
                   for d in (e["event_data"] for e in job.events))
    assert_no_secret(job, passwords)


def test_password_login_through_the_passwords_credential(lab3, tmp_path, workdir):
    """Also repairs the broken direction of the failed run."""
    inventory, cred, passwords = password_setup(lab3, tmp_path)
    job = run_job("playbooks/federate.yml", credentials=[cred], inventory=inventory,
                  workdir=workdir, verbosity=3, job_id=46)
    assert job.rc == 0, job.explain()
    assert_all_connected(job.artifacts["federation_matrix"])
    logins = [e for e in job.events if e.get("event") == "runner_on_ok"
              and e["event_data"].get("task") == "Obtain a token from the cluster's OAuth server"]
    assert sorted(e["event_data"]["host"] for e in logins) == MESHES
    assert_no_secret(job, passwords + [yaml.safe_dump(dict(enumerate(passwords)))])
    assert "sha256~" not in job.text()  # neither a token nor its object name
