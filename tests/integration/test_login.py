"""The username + password path: OpenShift OAuth login per cluster, logout (token revocation) at
the end, and no credential in any output, even at -vvv."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from ansible_run import REPO, load_inventory, mesh_hosts, run_playbook, write_inventory
from common import AUTOMATION_USER, lab_dir, now

PLAYBOOKS = REPO / "playbooks"  # run_playbook's playbooks; the modules run in their directory
TOKENS = ("oauth.openshift.io/v1", "OAuthAccessToken")


def password_inventory(lab, tmp_path, password=None, ca_cert=None):
    state = json.loads((lab_dir(lab) / "state.json").read_text())
    inventory = load_inventory(lab.inventory)
    passwords = []
    for host, hostvars in mesh_hosts(inventory).items():
        cluster = state["meshes"][host]["cluster"]
        secret = password or lab.credentials(cluster)[AUTOMATION_USER]
        passwords.append(secret)
        hostvars["mesh_cluster"] = {
            "host": state["clusters"][cluster]["server"],
            "username": AUTOMATION_USER,
            "password": secret,
            "ca_cert": ca_cert or str(lab_dir(lab) / "pki" / "ca.crt"),
            # A kube-apiserver cannot serve OpenShift's OAuth metadata: name the OAuth server.
            "oauth_host": state["clusters"][cluster]["oauth_issuer"],
            "name": cluster,
        }
    return write_inventory(tmp_path / "password.yml", inventory), passwords, state


def token_names(lab, mesh):
    """Names of the OAuth access tokens that exist on mesh's cluster (read as admin)."""
    api = lab.client(mesh).resources.get(api_version=TOKENS[0], kind=TOKENS[1])
    return {t.metadata.name for t in api.get().items}


@pytest.fixture
def meshes(lab):
    return sorted(mesh_hosts(load_inventory(lab.inventory)))


def test_password_login_is_used_and_the_token_revoked(lab, tmp_path, meshes):
    inventory, passwords, state = password_inventory(lab, tmp_path)
    before = {m: token_names(lab, m) for m in meshes}
    since = now()

    # Check mode: the modules run (read-only) with the OAuth token, nothing else is written.
    run = run_playbook("federate.yml", inventory, check=True, verbosity=3)
    assert run.rc == 0, run.explain()

    for mesh in meshes:
        cluster = state["meshes"][mesh]["cluster"]
        # The only write is the logout: the token deleting its own oauthaccesstokens object.
        writes = lab.audit_writes(cluster, AUTOMATION_USER, since)
        assert [(w["verb"], w["objectRef"]["resource"]) for w in writes] == [
            ("delete", "oauthaccesstokens")], mesh
        # Revoked: the token object is gone, so the apiserver refuses the token.
        assert token_names(lab, mesh) == before[mesh]

    # Logging out is a session action: it never makes an idempotent re-run "changed".
    logouts = run.results("Revoke the token this run obtained")
    assert sorted(logouts) == meshes and not any(r["changed"] for r in logouts.values())

    output = run.stdout + run.stderr + json.dumps(run.records)
    for secret in passwords:
        assert secret not in output
    assert "sha256~" not in output  # neither a token nor its object name


def test_wrong_password_fails_clearly_without_printing_it(lab, tmp_path):
    inventory = password_inventory(lab, tmp_path, password="not-the-password-4711")[0]
    since = now()
    run = run_playbook("federate.yml", inventory, check=True, verbosity=3)
    assert run.rc != 0
    assert "not-the-password-4711" not in run.stdout + run.stderr + json.dumps(run.records)
    failed = [r for r in run.failures() if r["task"].endswith("Stop when the login failed")]
    assert failed, run.explain()
    assert all(r["result"]["msg"] for r in failed)
    clusters = set(json.loads((lab_dir(lab) / "state.json").read_text())["clusters"])
    assert all(lab.audit_writes(c, AUTOMATION_USER, since) == [] for c in clusters)


def test_missing_relative_ca_cert_is_named_without_printing_secrets(lab, tmp_path):
    """A relative ca_cert is resolved against the playbook's directory, where modules run on the
    controller; a missing one is named, with the path it was looked for at."""
    relative = "pki/ca.crt"  # relative to the lab dir, not to the directory of the run
    inventory, passwords, _state = password_inventory(lab, tmp_path, ca_cert=relative)
    since = now()
    run = run_playbook("federate.yml", inventory, check=True, verbosity=3)
    assert run.rc != 0
    failed = [r for r in run.failures() if r["task"].endswith("Stop when the login failed")]
    assert failed, run.explain()
    resolved = str(PLAYBOOKS / relative)
    for record in failed:
        msg = record["result"]["msg"]
        assert f"ca_cert {relative}: no such file" in msg, msg
        assert resolved in msg and "absolute path" in msg, msg
    output = run.stdout + run.stderr + json.dumps(run.records)
    assert f"ca_cert {relative}: no such file" in run.stdout + run.stderr
    assert not any(secret in output for secret in passwords)
    assert "sha256~" not in output
    clusters = set(json.loads((lab_dir(lab) / "state.json").read_text())["clusters"])
    assert all(lab.audit_writes(c, AUTOMATION_USER, since) == [] for c in clusters)


def test_relative_ca_cert_is_resolved_against_the_playbook_directory(lab, tmp_path):
    relative = os.path.relpath(lab_dir(lab) / "pki" / "ca.crt", PLAYBOOKS)
    inventory = password_inventory(lab, tmp_path, ca_cert=relative)[0]
    run = run_playbook("federate.yml", inventory, check=True)
    assert run.rc == 0, run.explain()


def test_inline_kubeconfig_mapping_is_used_and_never_printed(lab, tmp_path):
    """A kubeconfig given as a mapping (e.g. from a vault) holds tokens: no output shows it."""
    kubeconfig = yaml.safe_load(Path(lab.kubeconfig).read_text())
    tokens = [u["user"]["token"] for u in kubeconfig["users"] if u["user"].get("token")]
    assert tokens
    inventory = load_inventory(lab.inventory)
    for hostvars in mesh_hosts(inventory).values():
        hostvars["mesh_cluster"] = {**hostvars["mesh_cluster"], "kubeconfig": kubeconfig}
    inline = write_inventory(tmp_path / "inline.yml", inventory)

    run = run_playbook("federate.yml", inline, check=True, verbosity=3)
    assert run.rc == 0, run.explain()
    output = run.stdout + run.stderr + json.dumps(run.records)
    leaked = sum(token in output for token in tokens)  # a count: the failure must not print them
    assert leaked == 0, f"{leaked} kubeconfig token(s) printed"
    # Only the credentials are masked: Ansible masking every leaf of the mapping ("v1", names,
    # the namespace) corrupted the root certificates and the messages the modules returned.
    assert "********" not in json.dumps(run.records)
