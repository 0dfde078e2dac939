"""Fixtures of the tests against a real AWX (make awx-up): the AWX client, a private 3-mesh lab
(ip block 200), and AWX configured by extensions/awx/configure.yml for that lab.

When AWX is not up the tests skip, saying so; with CI=true that is a failure instead (.ci/run
starts AWX in the background and the awx-up stage of `make test` waits for it first).
"""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from awx_api import MESHES, REPO, STATE, URL, Awx, ping

IP_BLOCK = 200
HOST_ID = "awx-local"


def _not_up(reason: str):
    msg = f"no local AWX at {URL}: {reason} (start it with `make awx-up`)"
    if os.environ.get("CI") == "true":
        pytest.fail(msg, pytrace=False)
    pytest.skip(msg)


@pytest.fixture(scope="session")
def awx() -> Awx:
    data = ping()
    if not data:
        _not_up("/api/v2/ping/ does not answer")
    if not any(i.get("node") == HOST_ID and i.get("capacity", 0) > 0
               for i in data.get("instances", [])):
        _not_up(f"instance {HOST_ID} has no capacity: {data.get('instances')}")
    password_file = STATE / "admin-password"
    if not password_file.exists():
        _not_up(f"{password_file} is missing")
    return Awx(URL, "admin", password_file.read_text().strip())


@pytest.fixture(scope="session")
def awx_lab(lab_factory):
    """A private 3-mesh lab in <LAB_TEST_DIR>-awx, ip block 200: its fault test breaks it."""
    return lab_factory("awx", " ".join(MESHES), IP_BLOCK)


def automation_kubeconfig(lab) -> tuple[str, list[str]]:
    """The kubeconfig a user pastes into the clusters credential: only the automation contexts
    (least privilege), the CA inline. Returns it and the secret values it holds."""
    config = yaml.safe_load(Path(lab.kubeconfig).read_text())
    contexts = [c for c in config["contexts"] if c["name"].endswith("-automation")]
    users = {c["context"]["user"] for c in contexts}
    clusters = {c["context"]["cluster"] for c in contexts}
    config["contexts"] = contexts
    config["users"] = [u for u in config["users"] if u["name"] in users]
    config["clusters"] = [c for c in config["clusters"] if c["name"] in clusters]
    config["current-context"] = contexts[0]["name"]
    for cluster in config["clusters"]:
        ca = cluster["cluster"].pop("certificate-authority", None)
        if ca:
            cluster["cluster"]["certificate-authority-data"] = base64.b64encode(
                Path(ca).read_bytes()).decode()
    text = yaml.safe_dump(config)
    secrets = [u["user"][k] for u in config["users"] for k in ("token", "client-key-data")
               if u["user"].get(k)]
    # Every token of the lab (admin ones too): none may show in a job.
    full = yaml.safe_load(Path(lab.kubeconfig).read_text())
    secrets += [u["user"]["token"] for u in full["users"] if u["user"].get("token")]
    return text, sorted(set(secrets))


def project_snapshot() -> str:
    """A git repository under .awx holding the working tree as it is now (tracked and
    untracked, .gitignore honoured), so that AWX's git project runs the code under test; its
    file:// URL. The repository's own .git is not touched."""
    git_dir = STATE / "project.git"
    env = {**os.environ, "GIT_DIR": str(git_dir), "GIT_WORK_TREE": str(REPO),
           "GIT_AUTHOR_NAME": "awx-tests", "GIT_AUTHOR_EMAIL": "awx-tests@localhost",
           "GIT_COMMITTER_NAME": "awx-tests", "GIT_COMMITTER_EMAIL": "awx-tests@localhost"}
    if not git_dir.exists():
        subprocess.run(["git", "init", "-q", "-b", "main"], env=env, check=True, cwd=REPO)
    subprocess.run(["git", "add", "-A", "."], env=env, check=True, cwd=REPO)
    subprocess.run(["git", "commit", "-q", "--allow-empty", "-m", "snapshot"], env=env,
                   check=True, cwd=REPO)
    return f"file://{git_dir}"


def ee_image() -> str:
    """The execution environment awx-up built (the one AWX's settings name)."""
    proc = subprocess.run(["bash", str(REPO / "scripts" / "awx" / "build-ee.sh")],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.fail(f"build-ee.sh failed:\n{proc.stderr[-3000:]}", pytrace=False)
    return proc.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def configured(awx, awx_lab, tmp_path_factory):
    """AWX configured by extensions/awx/configure.yml (awx.awx modules, the real API) for the
    lab: credential types, the clusters credential, the project, the inventory and its source,
    the job templates and the workflow. Returns (object names, the secrets to look for)."""
    kubeconfig, secrets = automation_kubeconfig(awx_lab)
    work = tmp_path_factory.mktemp("awx-configure")
    kubeconfig_file = work / "kubeconfig"
    kubeconfig_file.write_text(kubeconfig)
    kubeconfig_file.chmod(0o600)
    settings = {
        "awx_federation_kubeconfig_file": str(kubeconfig_file),
        # The lab is new for each session: its tokens too.
        "awx_federation_update_secrets": True,
        "awx_federation_scm_url": project_snapshot(),
        "awx_federation_scm_branch": "main",
        "awx_federation_ee_image": ee_image(),
        "awx_federation_ee_pull": "never",
        "awx_federation_wait_timeout": 300,
    }
    (work / "vars.yml").write_text(yaml.safe_dump(settings))
    env = {**os.environ, "CONTROLLER_HOST": awx.url, "CONTROLLER_USERNAME": awx.username,
           "CONTROLLER_PASSWORD": awx.password, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")}
    proc = subprocess.run(
        [str(REPO / ".venv" / "bin" / "ansible-playbook"), "extensions/awx/configure.yml",
         "-e", f"@{work / 'vars.yml'}"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900, check=False)
    log = proc.stdout + proc.stderr
    assert sum(s in log for s in secrets) == 0, "configure.yml printed a secret"
    assert awx.password not in log
    if proc.returncode != 0:
        pytest.fail(f"configure.yml failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}",
                    pytrace=False)
    names = yaml.safe_load((REPO / "extensions" / "awx" / "configure-vars.yml").read_text())
    # A project update brought the snapshot; the project is usable once successful.
    project = awx.one("/api/v2/projects/", names["awx_federation_project"])
    project = awx.wait(project["url"], until=lambda p: p["status"] not in {
        "new", "pending", "waiting", "running"})
    if project["status"] != "successful":
        pytest.fail(f"the project's update ended {project['status']}", pytrace=False)
    return names, [*secrets, kubeconfig, awx.password]
