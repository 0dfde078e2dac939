"""The inventory plugin servicemesh.federation.meshes against the lab, run as a user (or an AWX
inventory sync) runs it: `ansible-inventory -i <source file> --list` in a subprocess.

The shared lab (one cluster per mesh) is only read here (federate.yml runs in check mode); a
private lab has two meshes on one cluster (`duo`) and one alone."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from ansible_run import run_playbook

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_INVENTORY = REPO / ".venv" / "bin" / "ansible-inventory"
PRIVATE_MESHES = "alpha-mesh beta-mesh:duo gamma-mesh:duo"
PLUGIN = "servicemesh.federation.meshes"
BOGUS_TOKEN = "sha256~not-a-token-the-lab-knows-0123456789abcdef"


@dataclass
class Listing:
    rc: int
    stdout: str
    stderr: str
    output: str  # the --list JSON (stdout also carries -vvv messages)

    @property
    def data(self) -> dict:
        return _plain(json.loads(self.output))

    @property
    def meshes(self) -> dict:
        """host -> host variables of the group `meshes`."""
        data = self.data
        return {h: data["_meta"]["hostvars"].get(h, {}) for h in data["meshes"]["hosts"]}

    @property
    def warnings(self) -> str:
        return " ".join(self.stderr.split())  # warnings wrap at the terminal width


def _plain(value):
    """ansible-inventory marks untrusted strings (with template markers) as unsafe."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def list_inventory(tmp_path: Path, source: dict, *args: str, env: dict | None = None,
                   name: str = "lab.meshes.yml") -> Listing:
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"plugin": PLUGIN, **source}, sort_keys=False))
    output = tmp_path / "listing.json"
    output.unlink(missing_ok=True)
    proc = subprocess.run(
        [str(ANSIBLE_INVENTORY), "-i", str(path), "--list", "--output", str(output), *args],
        cwd=REPO,
        env={**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
             "COLUMNS": "200", **(env or {})},
        capture_output=True, text=True, timeout=300, check=False)
    return Listing(proc.returncode, proc.stdout, proc.stderr,
                   output.read_text() if output.exists() else "")


def lab_tokens(lab) -> list[str]:
    secrets = json.loads((Path(lab.kubeconfig).parent / "secrets.json").read_text())
    return [token for users in secrets.values() for token in users.values()]


def expected(lab, mesh: str, admin: bool = True, kubeconfig: bool = True) -> dict:
    state = lab.state["meshes"][mesh]
    cluster = {"context": lab.context(mesh, admin), "name": state["cluster"]}
    if kubeconfig:
        cluster = {"kubeconfig": lab.kubeconfig, **cluster}
    return {"mesh_namespace": state["namespace"], "mesh_trust_domain": state["trust_domain"],
            "mesh_cluster": cluster}


@pytest.fixture(scope="module")
def private(lab_factory):
    return lab_factory("inventory", PRIVATE_MESHES, 176)


def test_one_host_per_lab_mesh_through_the_admin_contexts(lab, tmp_path):
    contexts = [lab.context(m) for m in lab.meshes]
    listing = list_inventory(tmp_path, {"kubeconfig": lab.kubeconfig, "contexts": contexts})
    assert listing.rc == 0, listing.stderr
    assert listing.meshes == {m: expected(lab, m) for m in lab.meshes}
    assert "WARNING" not in listing.stderr
    # Plain strings, as AWX stores them (no template markers, so nothing to keep unsafe)
    assert "__ansible_unsafe" not in listing.output


def test_every_context_by_default_each_mesh_once(lab, tmp_path):
    """The lab kubeconfig has an admin and an automation context per cluster: same meshes."""
    listing = list_inventory(tmp_path, {"kubeconfig": lab.kubeconfig})
    assert listing.rc == 0, listing.stderr
    assert listing.meshes == {m: expected(lab, m) for m in lab.meshes}
    # The automation contexts may not list all namespaces, but their admin contexts did.
    assert "WARNING" not in listing.stderr


def test_the_inventory_feeds_federate_in_check_mode(lab, tmp_path, monkeypatch):
    """As in AWX: the kubeconfig comes from K8S_AUTH_KUBECONFIG (not stored in the inventory),
    the least-privilege automation contexts reach the meshes."""
    monkeypatch.setenv("K8S_AUTH_KUBECONFIG", lab.kubeconfig)
    contexts = [lab.context(m, admin=False) for m in lab.meshes]
    listing = list_inventory(tmp_path, {"contexts": contexts})
    assert listing.rc == 0, listing.stderr
    assert listing.meshes == {m: expected(lab, m, admin=False, kubeconfig=False)
                              for m in lab.meshes}
    for context in contexts:  # one namespace per automation context: said, not hidden
        assert f"context '{context}' may not list ServiceMeshControlPlanes in all namespaces " \
               "(403)" in listing.warnings

    before = {c: len(lab.audit_writes(c)) for c in lab.state["clusters"]}
    run = run_playbook("federate.yml", tmp_path / "lab.meshes.yml", check=True)
    assert run.rc == 0, run.explain()
    # Every mesh is a host of the run (localhost only checks that the inventory has meshes).
    assert sorted(run.stats) == sorted([*lab.meshes, "localhost"])
    assert {c: len(lab.audit_writes(c)) for c in lab.state["clusters"]} == before


def test_meshes_sharing_a_cluster_are_all_listed(private, tmp_path):
    listing = list_inventory(tmp_path, {"kubeconfig": private.kubeconfig})
    assert listing.rc == 0, listing.stderr
    meshes = listing.meshes
    assert meshes == {m: expected(private, m) for m in private.meshes}
    assert meshes["beta-mesh"]["mesh_cluster"] == meshes["gamma-mesh"]["mesh_cluster"] == {
        "kubeconfig": private.kubeconfig, "context": "duo", "name": "duo"}


def test_unreadable_contexts_are_skipped_with_a_warning_and_no_token_is_printed(
        private, tmp_path):
    config = yaml.safe_load(Path(private.kubeconfig).read_text())
    for user in config["users"]:  # the alpha-mesh admin's token is refused (401)
        if user["name"] == "alpha-mesh-admin":
            user["user"]["token"] = BOGUS_TOKEN
    config["clusters"].append({"name": "gone", "cluster": {"server": "https://127.0.0.1:9"}})
    config["contexts"].append({"name": "gone", "context": {"cluster": "gone",
                                                           "user": "duo-admin"}})
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))
    kubeconfig.chmod(0o600)

    listing = list_inventory(
        tmp_path, {"kubeconfig": str(kubeconfig),
                   "contexts": ["alpha-mesh", "gone", "duo-automation"]}, "-vvv")
    assert listing.rc == 0, listing.stderr
    # duo-automation may read only its namespace: beta-mesh, not gamma-mesh
    assert list(listing.meshes) == ["beta-mesh"]
    assert listing.meshes["beta-mesh"]["mesh_cluster"]["context"] == "duo-automation"
    warnings = listing.warnings
    assert "context 'alpha-mesh' skipped (its meshes are not in the inventory)" in warnings
    assert "the API server rejected the credentials (401 Unauthorized)" in warnings
    assert "context 'gone' skipped" in warnings and "cannot reach the API server" in warnings
    assert "context 'duo-automation' may not list ServiceMeshControlPlanes in all namespaces " \
           "(403), so only the context's namespace beta-mesh-system was read" in warnings
    for token in [BOGUS_TOKEN, *lab_tokens(private)]:
        assert token not in listing.stdout + listing.stderr + listing.output


def test_duplicate_mesh_names_are_an_error_naming_both(private, tmp_path):
    """A constant-per-cluster rule names both duo meshes alike. AWX syncs with
    ANSIBLE_INVENTORY_UNPARSED_FAILED=True: the sync fails and keeps the last good inventory."""
    source = {"kubeconfig": private.kubeconfig, "contexts": ["duo", "alpha-mesh"],
              "mesh_name": "'mesh-' ~ cluster"}
    listing = list_inventory(tmp_path, source, env={"ANSIBLE_INVENTORY_UNPARSED_FAILED": "True"})
    assert listing.rc != 0 and listing.output == ""
    assert "mesh name 'mesh-duo' is used twice: by duo/beta-mesh-system and by " \
           "duo/gamma-mesh-system (change the mesh_name rule or limit contexts)" \
           in listing.warnings
    assert "mesh-alpha" not in listing.warnings  # the unique name is no problem

    listing = list_inventory(tmp_path, source)  # ansible-inventory's default: warn, no hosts
    assert "used twice" in listing.warnings and "meshes" not in listing.data


def test_the_mesh_name_rule_and_constructed_groups(private, tmp_path):
    listing = list_inventory(tmp_path, {
        "kubeconfig": private.kubeconfig,
        "mesh_name": "smcp.metadata.namespace | regex_replace('-mesh-system$', '')",
        "keyed_groups": [{"key": "mesh_cluster.name", "prefix": "cluster"}],
        "compose": {"federation_wait_timeout": "600"},
    })
    assert listing.rc == 0, listing.stderr
    data = listing.data
    assert sorted(data["meshes"]["hosts"]) == ["alpha", "beta", "gamma"]
    assert sorted(data["cluster_duo"]["hosts"]) == ["beta", "gamma"]
    assert data["_meta"]["hostvars"]["beta"]["federation_wait_timeout"] == 600


def test_cached_inventory_is_served_without_asking_the_clusters(private, tmp_path):
    cache = tmp_path / "cache"
    source = {"kubeconfig": private.kubeconfig, "contexts": ["duo", "alpha-mesh"],
              "cache": True, "cache_plugin": "ansible.builtin.jsonfile",
              "cache_connection": str(cache)}
    first = list_inventory(tmp_path, source, "-vvv")
    second = list_inventory(tmp_path, source, "-vvv")
    assert first.rc == second.rc == 0, first.stderr + second.stderr
    assert first.meshes == second.meshes == {m: expected(private, m) for m in private.meshes}
    assert "context 'duo': 2 control plane(s)" in first.stdout
    assert "control plane(s)" not in second.stdout  # read from the cache
    stored = "".join(p.read_text() for p in cache.iterdir())
    assert "beta-mesh-system" in stored
    for token in lab_tokens(private):
        assert token not in stored
