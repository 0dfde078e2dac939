# Copyright (c) servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The plan's check of each mesh's mesh_cluster (how to reach and authenticate to its cluster),
and the plan's input with credentials masked. Never echoes a secret value. Pure Python."""

from __future__ import annotations

import re
from collections.abc import Mapping

from ansible_collections.servicemesh.federation.plugins.module_utils.logic.naming import (
    PASSWORDS_ENV,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.plan_values import (
    Problems,
)

CLUSTER_KEYS = (
    "host", "api_key", "kubeconfig", "context", "username", "password",
    "ca_cert", "validate_certs", "name", "oauth_host",
)
SECRET_CLUSTER_KEYS = ("api_key", "password")
HIDDEN = "<hidden>"
_URL = re.compile(r"^https?://[^\s/]+")


def plan_input(hostvars: Mapping) -> dict:
    """One host's ``mesh_*`` variables as the plan sees them, credentials masked.

    The plan only checks that credentials are present, and its input is printed (set_fact at
    -v), so api_key, password and a kubeconfig given inline (it holds tokens) are replaced by
    a marker. Every ``mesh_*`` variable is kept, so that a misspelt one is reported.
    """
    mesh = {key: hostvars[key] for key in hostvars
            if isinstance(key, str) and key.startswith("mesh_")}
    cluster = mesh.get("mesh_cluster")
    if isinstance(cluster, Mapping):
        mesh["mesh_cluster"] = {key: _masked(key, value) for key, value in cluster.items()}
    return mesh


def _masked(key, value):
    if key in SECRET_CLUSTER_KEYS and value:
        return HIDDEN
    if key == "kubeconfig" and isinstance(value, Mapping):
        return {"inline kubeconfig": HIDDEN}
    return value


def cluster_name(cluster) -> str | None:
    """The cluster's name: mesh_cluster.name, else its context, else its host (reports use it,
    and the passwords file is keyed by it)."""
    cluster = cluster if isinstance(cluster, dict) else {}
    for key in ("name", "context", "host"):
        if isinstance(cluster.get(key), str) and cluster[key]:
            return cluster[key]
    return None


def check_cluster(p: Problems, mesh: dict, cluster, env_auth: bool,
                  passwords: dict | None = None) -> str | None:
    """Validate mesh_cluster; return the auth method or None. Never echoes secret values.

    ``passwords`` describes the passwords file (see build_plan); None: there is none.
    """
    if cluster is None:
        cluster = {}
    if not isinstance(cluster, dict):
        p.mesh(mesh, "mesh_cluster", "must be a mapping of connection settings")
        return None
    _check_cluster_values(p, mesh, cluster)

    def given(key):
        return cluster.get(key) not in (None, "")

    if given("api_key") and (given("username") or given("password")):
        p.mesh(mesh, "mesh_cluster",
               "give either api_key or username + password, not both")
        return None
    password_from_file = (given("username") and not given("password")
                          and _password_in_file(p, mesh, cluster, passwords))
    if password_from_file is None:
        return None
    if given("username") != (given("password") or password_from_file):
        missing = "password" if given("username") else "username"
        p.mesh(mesh, f"mesh_cluster.{missing}",
               "missing (username and password go together"
               + (f"; or set {PASSWORDS_ENV} to a file of passwords by cluster name)"
                  if missing == "password" else ")"))
        return None
    if given("api_key") or given("username"):
        if not given("host"):
            p.mesh(mesh, "mesh_cluster.host",
                   "missing: the API server URL is required with api_key or username + password")
            return None
        return "token" if given("api_key") else "password"
    if given("kubeconfig"):
        return "kubeconfig"
    if env_auth:
        return "environment"
    if given("host"):
        p.mesh(mesh, "mesh_cluster",
               "host given without credentials: add api_key, or username + password")
    elif given("context"):
        p.mesh(mesh, "mesh_cluster.kubeconfig",
               "missing: a context needs a kubeconfig (mesh_cluster.kubeconfig, or the file "
               "named by K8S_AUTH_KUBECONFIG)")
    else:
        p.mesh(mesh, "mesh_cluster",
               "no connection data: set kubeconfig (and optionally context), host + api_key, "
               "or host + username + password (or provide K8S_AUTH_* environment variables)")
    return None


def _check_cluster_values(p: Problems, mesh: dict, cluster: dict) -> None:
    """Known keys, each of the right type; URLs that are URLs."""
    for key in sorted(set(cluster) - set(CLUSTER_KEYS)):
        p.mesh(mesh, f"mesh_cluster.{key}",
               f"unknown key (known keys: {', '.join(CLUSTER_KEYS)})")
    for key in ("host", "api_key", "context", "username", "password", "ca_cert", "name",
                "oauth_host"):
        if key in cluster and cluster[key] is not None and not isinstance(cluster[key], str):
            p.mesh(mesh, f"mesh_cluster.{key}", "must be a string")
    kubeconfig = cluster.get("kubeconfig")
    if kubeconfig is not None and not isinstance(kubeconfig, (str, dict)):
        p.mesh(mesh, "mesh_cluster.kubeconfig", "must be a file path or a kubeconfig mapping")
    if "validate_certs" in cluster and not isinstance(cluster["validate_certs"], bool):
        p.mesh(mesh, "mesh_cluster.validate_certs",
               f"must be true or false, got {cluster['validate_certs']!r}")
    for key in ("host", "oauth_host"):
        value = cluster.get(key)
        if isinstance(value, str) and value and not _URL.match(value):
            p.mesh(mesh, f"mesh_cluster.{key}",
                   f"{value!r} must be a URL such as https://api.example.com:6443")


def _password_in_file(p: Problems, mesh: dict, cluster: dict, passwords: dict | None):
    """Whether the passwords file has this mesh's password: True, False (no file), or None
    (reported: the file cannot be used or lacks the cluster)."""
    if passwords is None:
        return False
    name = cluster_name(cluster)
    field = "mesh_cluster.password"
    if passwords.get("error"):
        p.mesh(mesh, field, f"missing, and the passwords file ({PASSWORDS_ENV}) cannot be "
                            f"used: {passwords['error']}")
        return None
    names = passwords.get("clusters") or []
    if name not in names:
        p.mesh(mesh, field, f"missing, and the passwords file ({PASSWORDS_ENV}) has no password "
                            f"for cluster {name!r} (the key is mesh_cluster.name, else context, "
                            f"else host; clusters in the file: {', '.join(sorted(names))})")
        return None
    return True


def cluster_display(cluster, auth: str | None) -> str:
    name = cluster_name(cluster)
    if name:
        return name
    if auth == "environment":
        return "K8S_AUTH_* environment"
    return "kubeconfig default context"


def cluster_identity(cluster) -> tuple | None:
    """Something that names the same cluster for two meshes, when we can tell."""
    if not isinstance(cluster, dict):
        return None
    if isinstance(cluster.get("host"), str) and cluster["host"]:
        return ("host", cluster["host"].rstrip("/"))
    if isinstance(cluster.get("kubeconfig"), str) and cluster["kubeconfig"]:
        return ("kubeconfig", cluster["kubeconfig"], cluster.get("context"))
    return None
