"""Run a playbook of this collection as AWX 24.6.1 runs a job: an ansible-runner private data dir
built the way awx/main/tasks/jobs.py (RunJob) builds it, credentials injected by AWX's rules, and
ansible_runner.run on it; the result is read back from the job events, as AWX reads it.

What is AWX's (file references are to the AWX 24.6.1 sources):
- custom credential types (extensions/awx/credential_types/*.yml): ``inject_custom`` follows
  ``CredentialType.inject_credential`` (models/credential/__init__.py): inputs rendered with a
  Jinja ImmutableSandboxedEnvironment, each ``injectors.file`` template written to a 0600 temp file
  in ``env/``, ``tower.filename`` for one unnamed template or ``tower.filename.<name>`` for
  ``template.<name>``, env injectors (ANSIBLE_* and blocked names refused), extra_vars injectors
  written to a 0400 file passed as ``-e @file``; ``build_safe_env`` is AWX's;
- the built-in "OpenShift or Kubernetes API Bearer Token" type: awx-plugins-core's own injector
  (``awx_plugins.credentials.injectors.kubernetes_bearer_token``);
- ``env/extravars`` through AWX's ``safe_dump``: job template variables as they are, every other
  string (survey answers, a workflow's artifacts) tagged ``!unsafe``;
- ``env/cmdline`` (``-u root``, ``--check``, ``--diff``, ``--forks``, ``-l``, ``-v...``),
  ``env/settings`` (``suppress_ansible_output``, ``suppress_output_file``), ``inventory/hosts``
  (a script printing the inventory's JSON, what AWX stores after an inventory update), the
  environment passed as ``envvars`` with ``suppress_env_files`` (AWX_RUNNER_OMIT_ENV_FILES: no
  ``env/envvars`` file holds the secrets), the playbook path relative to ``project/``;
- the job's stdout is its events' stdout joined, its artifacts the ``playbook_on_stats`` event's
  ``artifact_data`` (what ``set_stats`` published, passed on to the next workflow node).

What differs, because no container runs here: AWX runs the job in an execution environment with
the private data dir mounted at ``/runner``. Paths are rendered as ``/runner/...`` exactly as AWX
renders them and then mapped back to the private data dir (the mount, done by hand); the EE's
installed collections are a directory in which servicemesh.federation (this repository) and
kubernetes.core are linked, named by ANSIBLE_COLLECTIONS_PATHS / ANSIBLE_COLLECTIONS_PATH as
RunJob.build_env names the EE's collection directories.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from jinja2 import sandbox

REPO = Path(__file__).resolve().parents[2]
CREDENTIAL_TYPES = REPO / "extensions" / "awx" / "credential_types"
CONTAINER_ROOT = "/runner"
BEARER_TOKEN = "kubernetes_bearer_token"  # the built-in type's namespace
HIDDEN_PASSWORD = "**********"
# awx/main/constants.py ENV_BLOCKLIST
ENV_BLOCKLIST = frozenset((
    "VIRTUAL_ENV", "PATH", "PYTHONPATH", "JOB_ID", "INVENTORY_ID", "INVENTORY_SOURCE_ID",
    "INVENTORY_UPDATE_ID", "AD_HOC_COMMAND_ID", "REST_API_URL", "REST_API_TOKEN", "MAX_EVENT_RES",
    "CALLBACK_QUEUE", "CALLBACK_CONNECTION", "CACHE", "JOB_CALLBACK_DEBUG", "INVENTORY_HOSTVARS",
    "AWX_HOST", "PROJECT_REVISION", "SUPERVISOR_CONFIG_PATH",
))


def load_credential_type(name: str) -> dict:
    """A credential type of extensions/awx/credential_types/ by file stem."""
    return yaml.safe_load((CREDENTIAL_TYPES / f"{name}.yml").read_text())


@dataclass
class Credential:
    """A credential: its type (a custom type's dict, or BEARER_TOKEN) and its inputs."""

    type: dict | str
    inputs: dict

    def secrets(self) -> list[str]:
        """The secret input values (what must never appear in a job's output)."""
        if self.type == BEARER_TOKEN:
            names = {"bearer_token", "ssl_ca_cert"}
        else:
            names = {f["id"] for f in self.type["inputs"]["fields"] if f.get("secret")}
        return [v for k, v in self.inputs.items() if k in names and isinstance(v, str) and v]


# --- AWX's rules ---------------------------------------------------------------------------

def build_safe_env(env: dict) -> dict:
    """awx.main.models.credential.build_safe_env: the env as AWX stores it (secrets hidden)."""
    hidden_re = re.compile(r"API|TOKEN|KEY|SECRET|PASS", re.I)
    urlpass_re = re.compile(r"^.*?://[^:]+:(.*?)@.*?$")
    safe_env = dict(env)
    for k, v in safe_env.items():
        if k == "AWS_ACCESS_KEY_ID":
            continue
        if (k.startswith("ANSIBLE_") and not k.startswith("ANSIBLE_NET")
                and not k.startswith("ANSIBLE_GALAXY_SERVER")):
            continue
        if hidden_re.search(k):
            safe_env[k] = HIDDEN_PASSWORD
        elif isinstance(v, str) and urlpass_re.match(v):
            safe_env[k] = urlpass_re.sub(HIDDEN_PASSWORD, v)
    return safe_env


def to_container_path(path: str, private_data_dir: Path) -> str:
    resolved = Path(path).resolve()
    pdd = Path(private_data_dir).resolve()
    return str(resolved).replace(str(pdd), CONTAINER_ROOT, 1)


class _Namespace:
    pass


def inject_custom(cred_type: dict, inputs: dict, env: dict, safe_env: dict, args: list,
                  private_data_dir: Path) -> None:
    """CredentialType.inject_credential for a custom (non-managed) type."""
    injectors = cred_type.get("injectors") or {}
    tower = _Namespace()
    namespace = {"tower": tower}
    safe_namespace = {"tower": tower}
    secret_fields = {f["id"] for f in cred_type["inputs"].get("fields", []) if f.get("secret")}
    for name, value in inputs.items():
        if isinstance(value, bool):
            safe_namespace[name] = namespace[name] = value
            continue
        if name in secret_fields:
            safe_namespace[name] = HIDDEN_PASSWORD
        elif len(value):
            safe_namespace[name] = value
        if len(value):
            namespace[name] = value
    for f in cred_type["inputs"].get("fields", []):
        if f.get("type", "string") == "boolean" and f["id"] not in inputs:
            namespace[f["id"]] = safe_namespace[f["id"]] = False
        if f.get("format") == "ssh_private_key" and not namespace.get(f["id"], "\n").endswith("\n"):
            namespace[f["id"]] += "\n"

    env_dir = os.path.join(private_data_dir, "env")
    sandbox_env = sandbox.ImmutableSandboxedEnvironment()
    for label, template in injectors.get("file", {}).items():
        data = sandbox_env.from_string(template).render(**namespace)
        handle, path = tempfile.mkstemp(dir=env_dir)
        os.close(handle)
        with open(path, "w") as f:
            f.write(data)
        os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
        container_path = to_container_path(path, private_data_dir)
        if label.find(".") == -1:
            tower.filename = container_path
        else:
            if not hasattr(tower, "filename"):
                tower.filename = _Namespace()
            setattr(tower.filename, label.split(".")[1], container_path)

    for var, template in injectors.get("env", {}).items():
        if var.startswith("ANSIBLE_") or var in ENV_BLOCKLIST:
            raise ValueError(f"AWX refuses the env injector {var}")
        env[var] = sandbox_env.from_string(template).render(**namespace)
        safe_env[var] = sandbox_env.from_string(template).render(**safe_namespace)

    def build_extra_vars(node):
        if isinstance(node, dict):
            return {build_extra_vars(k): build_extra_vars(v) for k, v in node.items()}
        if isinstance(node, list):
            return [build_extra_vars(x) for x in node]
        return sandbox_env.from_string(node).render(**namespace)

    extra_vars = build_extra_vars(injectors.get("extra_vars", {}))
    if extra_vars:
        handle, path = tempfile.mkstemp(dir=env_dir)
        with os.fdopen(handle, "w") as f:
            f.write(safe_dump(extra_vars))
        os.chmod(path, stat.S_IRUSR)
        args.extend(["-e", "@" + to_container_path(path, private_data_dir)])


def inject_bearer_token(inputs: dict, env: dict, safe_env: dict, private_data_dir: Path) -> None:
    """The managed type: AWX calls its builtin injector and stores build_safe_env of it."""
    from awx_plugins.credentials.injectors import kubernetes_bearer_token
    from awx_plugins.interfaces._temporary_private_credential_api import (
        Credential as AwxCredential,
    )

    injected: dict = {}
    kubernetes_bearer_token(AwxCredential(inputs=dict(inputs)), injected, str(private_data_dir))
    env.update(injected)
    safe_env.update(build_safe_env(injected))


class _SafeStringDumper(yaml.SafeDumper):
    def represent_data(self, data):
        if isinstance(data, str):
            return self.represent_scalar("!unsafe", data)
        return super().represent_data(data)


def safe_dump(x, safe_dict=None) -> str:
    """awx.main.utils.safe_yaml.safe_dump: strings !unsafe unless the top-level pair is in
    ``safe_dict`` (the job template's own extra vars)."""
    if isinstance(x, dict):
        out = []
        safe_dict = safe_dict or {}
        for k, v in x.items():
            dumper = yaml.SafeDumper
            if k not in safe_dict or safe_dict.get(k) != v:
                dumper = _SafeStringDumper
            out.append(yaml.dump_all([{k: v}], None, Dumper=dumper, default_flow_style=False))
        return "".join(out)
    return yaml.dump_all([x], None, Dumper=_SafeStringDumper, default_flow_style=False)


def write_private_data_file(private_data_dir: Path, name: str | None, data: str,
                            sub_dir: str, mode: int = 0o600) -> str:
    base = Path(private_data_dir) / sub_dir
    base.mkdir(mode=0o700, parents=True, exist_ok=True)
    if name:
        path = base / name
    else:
        handle, tmp = tempfile.mkstemp(dir=base)
        os.close(handle)
        path = Path(tmp)
    path.touch(mode=mode, exist_ok=True)
    path.write_text(data)
    return str(path)


# --- the execution environment, without a container ----------------------------------------

def ee_collections(root: Path) -> Path:
    """A directory laid out as an EE's installed collections: servicemesh.federation and
    kubernetes.core (linked from this repository and its setup)."""
    target = root / "ee-collections"
    base = target / "ansible_collections"
    for namespace, name, source in (
            ("servicemesh", "federation", REPO),
            ("kubernetes", "core", REPO / ".collections" / "ansible_collections" / "kubernetes"
             / "core")):
        (base / namespace).mkdir(parents=True, exist_ok=True)
        link = base / namespace / name
        if not link.exists():
            link.symlink_to(source.resolve(), target_is_directory=True)
    return target


def _mount(value: str, private_data_dir: Path) -> str:
    """What a /runner path inside the EE is on this machine (the volume mount)."""
    pdd = str(Path(private_data_dir).resolve())
    if value == CONTAINER_ROOT or value.startswith(CONTAINER_ROOT + "/"):
        return pdd + value[len(CONTAINER_ROOT):]
    return value


def _checkout(project: Path) -> None:
    """The project as AWX's project update leaves it: the repository's files (no .venv,
    .collections or labs: those are not in git)."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           cwd=REPO, capture_output=True, check=True).stdout.split(b"\0")
    for name in filter(None, (f.decode() for f in files)):
        source = REPO / name
        if source.is_file():
            dest = project / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest)


# --- inventory -----------------------------------------------------------------------------

def inventory_update(source: Path, credentials: list[Credential], workdir: Path) -> dict:
    """What an AWX inventory update stores: ``ansible-inventory --list --export`` of the source
    (a static YAML inventory or a plugin source such as servicemesh.federation.meshes) with the
    source's credentials injected."""
    pdd = Path(tempfile.mkdtemp(prefix="awx_inv_", dir=workdir))
    (pdd / "env").mkdir()
    env, safe_env, args = {}, {}, []
    _inject(credentials, env, safe_env, args, pdd)
    env = {k: _mount(v, pdd) for k, v in env.items()}
    proc = subprocess.run(
        [str(REPO / ".venv" / "bin" / "ansible-inventory"), "-i", str(source), "--list",
         "--export"],
        cwd=REPO, capture_output=True, text=True, check=False,
        env={**os.environ, **env, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
             "ANSIBLE_INVENTORY_UNPARSED_FAILED": "True"})
    if proc.returncode != 0:
        raise RuntimeError(f"inventory update failed:\n{proc.stderr}")
    return json.loads(proc.stdout)


def _inject(credentials, env, safe_env, args, pdd) -> None:
    for cred in credentials:
        if cred.type == BEARER_TOKEN:
            inject_bearer_token(cred.inputs, env, safe_env, pdd)
        else:
            inject_custom(cred.type, cred.inputs, env, safe_env, args, pdd)


# --- the job -------------------------------------------------------------------------------

@dataclass
class Job:
    rc: int
    status: str
    events: list[dict]
    private_data_dir: Path
    safe_env: dict
    extravars: str
    cmdline: str
    stdout: str = ""
    artifacts: dict = field(default_factory=dict)

    def text(self) -> str:
        """Everything the job showed or recorded: stdout and every event, as JSON."""
        return self.stdout + "\n" + json.dumps(self.events)

    def failed_tasks(self) -> list[dict]:
        return [e["event_data"] for e in self.events if e.get("event") == "runner_on_failed"
                and not e["event_data"].get("ignore_errors")]

    def explain(self) -> str:
        failed = "\n".join(f"[{d.get('host')}] {d.get('task')}: {d.get('res', {}).get('msg', '')}"
                           for d in self.failed_tasks())
        return f"rc={self.rc} status={self.status}\n--- failed\n{failed}\n--- stdout (tail)\n" \
               f"{self.stdout[-5000:]}"


def run_job(playbook: str, *, credentials: list[Credential], inventory: dict | Path,
            workdir: Path, extra_vars: dict | None = None, job_template_vars: dict | None = None,
            verbosity: int = 0, limit: str | None = None, job_type: str = "run",
            diff_mode: bool = False, forks: int = 10, job_id: int = 42,
            timeout: int = 900) -> Job:
    """Run ``playbook`` (relative to the project, e.g. ``playbooks/federate.yml``) as an AWX job.

    ``inventory``: the inventory as stored (``--list --export`` JSON, see inventory_update) or a
    source file, updated first with the same credentials. ``extra_vars``: survey answers and a
    workflow's artifacts (!unsafe); ``job_template_vars``: the template's own (trusted).
    """
    import ansible_runner

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if isinstance(inventory, Path):
        inventory = inventory_update(inventory, credentials, workdir)
    pdd = Path(tempfile.mkdtemp(prefix=f"awx_{job_id}_", dir=workdir))
    os.chmod(pdd, stat.S_IRUSR | stat.S_IWUSR | stat.S_IXUSR)
    for sub in ("inventory", "env", "project"):
        (pdd / sub).mkdir(exist_ok=True)
    _checkout(pdd / "project")

    # RunJob.build_extra_vars_file: template vars, then survey / artifacts, then meta vars.
    all_vars = {**(job_template_vars or {}), **(extra_vars or {}),
                "awx_job_id": job_id, "tower_job_id": job_id, "awx_job_launch_type": "manual",
                "awx_job_template_name": Path(playbook).stem}
    extravars = safe_dump(all_vars, job_template_vars or {})
    write_private_data_file(pdd, "extravars", extravars, "env")

    args = []
    if job_type == "check":
        args.append("--check")
    args += ["-u", "root"]
    if diff_mode:
        args.append("--diff")
    args.append(f"--forks={forks}")
    if limit:
        args += ["-l", limit]
    if verbosity:
        args.append("-" + "v" * min(5, verbosity))

    collections = ee_collections(workdir)
    env = {
        # BaseTask.build_env: the ANSIBLE_* settings of AWX's defaults, then RunJob.build_env.
        "ANSIBLE_FORCE_COLOR": "True", "ANSIBLE_HOST_KEY_CHECKING": "False",
        "ANSIBLE_INVENTORY_UNPARSED_FAILED": "True",
        "ANSIBLE_PARAMIKO_RECORD_HOST_KEYS": "False",
        "AWX_PRIVATE_DATA_DIR": str(pdd), "JOB_ID": str(job_id), "INVENTORY_ID": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "False", "MAX_EVENT_RES": "700000",
        "AWX_HOST": "https://awx.example.com",
        "ANSIBLE_SSH_CONTROL_PATH_DIR": f"{CONTAINER_ROOT}/cp",
    }
    (pdd / "cp").mkdir(mode=0o700)
    # The EE's collection directories (RunJob.build_env path_vars: requirements_collections from
    # the project, then the EE's defaults; here the EE's installed collections are `collections`).
    paths = os.pathsep.join([f"{CONTAINER_ROOT}/requirements_collections", str(collections)])
    env["ANSIBLE_COLLECTIONS_PATHS"] = env["ANSIBLE_COLLECTIONS_PATH"] = paths
    # What the EE image has: ansible-playbook on PATH, and no ANSIBLE_CONFIG (ansible reads the
    # project's ansible.cfg from the working directory; named here so that a caller's
    # ANSIBLE_CONFIG, which ansible-runner would pass on, cannot point elsewhere).
    env["PATH"] = os.pathsep.join([str(REPO / ".venv" / "bin"), os.environ.get("PATH", "")])
    env["ANSIBLE_CONFIG"] = f"{CONTAINER_ROOT}/project/ansible.cfg"
    safe_env = build_safe_env(env)
    _inject(credentials, env, safe_env, args, pdd)
    write_private_data_file(pdd, "cmdline", " ".join(map(_quote, args)), "env")

    # The private data dir is mounted at /runner in the EE: paths in the env and the command
    # line name /runner; here that mount is done by mapping them back.
    env = {k: _mount(v, pdd) if isinstance(v, str) else v for k, v in env.items()}
    (pdd / "env" / "cmdline").write_text(" ".join(_quote(_mount(a, pdd)) for a in args))

    # The script AWX writes (BaseTask.write_inventory_file).
    hosts = f"#! /usr/bin/env python3\n# -*- coding: utf-8 -*-\nprint({json.dumps(inventory)!r})\n"
    hosts_path = write_private_data_file(pdd, "hosts", hosts, "inventory", 0o700)
    write_private_data_file(pdd, "settings", json.dumps({
        "job_timeout": timeout, "suppress_ansible_output": True,
        "suppress_output_file": True}), "env")

    result = ansible_runner.run(
        ident=str(job_id), private_data_dir=str(pdd), playbook=playbook, inventory=hosts_path,
        suppress_env_files=True, envvars=env, quiet=True,
        # AWX runs with an empty fact cache setting unless the template enables it.
        fact_cache_type="",
    )
    events = _events(pdd / "artifacts" / str(job_id) / "job_events")
    stats = next((e for e in events if e.get("event") == "playbook_on_stats"), {})
    return Job(
        rc=result.rc, status=result.status, events=events, private_data_dir=pdd,
        safe_env=safe_env, extravars=extravars, cmdline=(pdd / "env" / "cmdline").read_text(),
        stdout="\n".join(e["stdout"] for e in events if e.get("stdout")),
        artifacts=stats.get("event_data", {}).get("artifact_data", {}),
    )


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


def _events(directory: Path) -> list[dict]:
    if not directory.exists():
        return []
    events = [json.loads(p.read_text()) for p in directory.glob("*.json")]
    return sorted(events, key=lambda e: e.get("counter", 0))
