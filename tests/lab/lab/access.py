"""Who reaches the lab clusters and how: the mesh -> cluster topology, the identities (static
tokens, OAuth passwords), the apiserver's token, webhook and audit files, the kubeconfig and the
inventory for playbooks/federate.yml."""

from __future__ import annotations

import re
import secrets

import yaml

from lab import LabError
from lab.state import LabPaths, write_private

ADMIN_USER = "lab-admin"
AUTOMATION_USER = "federation-automation"
KCM_USER = "system:kube-controller-manager"
ROLE_NAME = "servicemesh-federation"
NAMESPACE_ROLE_NAME = "servicemesh-federation-namespace"
LOGOUT_ROLE_NAME = "lab-oauth-token-logout"
# Audit only writes: the benchmark and idempotency tests count them per user.
WRITE_VERBS = ["create", "update", "patch", "delete", "deletecollection"]

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$")


def parse_meshes(spec: str) -> dict[str, str]:
    """``"a b:c d:c"`` -> ``{"a": "a", "b": "c", "d": "c"}`` (mesh -> cluster, in order)."""
    meshes: dict[str, str] = {}
    for entry in spec.replace(",", " ").split():
        mesh, _sep, cluster = entry.partition(":")
        cluster = cluster or mesh
        for kind, name in (("mesh", mesh), ("cluster", cluster)):
            if not _DNS_LABEL.match(name):
                raise LabError(
                    f"--meshes entry {entry!r}: {kind} name {name!r} must be a DNS label "
                    "(lower-case letters, digits, '-', at most 40 characters)"
                )
        if mesh in meshes:
            raise LabError(f"--meshes: mesh {mesh!r} listed twice")
        meshes[mesh] = cluster
    if not meshes:
        raise LabError("--meshes: give at least one mesh")
    return meshes


def new_identities(clusters: list[str]) -> tuple[dict, dict]:
    """Random static tokens (secrets.json) and OAuth passwords (credentials.json) per cluster."""
    tokens = {
        c: {u: secrets.token_urlsafe(32) for u in (ADMIN_USER, AUTOMATION_USER, KCM_USER)}
        for c in clusters
    }
    passwords = {c: {u: secrets.token_urlsafe(18) for u in (ADMIN_USER, AUTOMATION_USER)}
                 for c in clusters}
    return tokens, passwords


def write_cluster_files(paths: LabPaths, state: dict, tokens: dict) -> None:
    """Token file, webhook and controller-manager kubeconfigs, audit policy for every cluster."""
    ca = str(paths.pki / "ca.crt")
    (paths.dir / "audit-policy.yaml").write_text(yaml.safe_dump({
        "apiVersion": "audit.k8s.io/v1",
        "kind": "Policy",
        "omitStages": ["RequestReceived"],
        # Access reviews are creates that store nothing (pre-flight asks one per mesh): not writes.
        "rules": [{"level": "None", "resources": [{"group": "authorization.k8s.io"}]},
                  {"level": "Metadata", "verbs": WRITE_VERBS}, {"level": "None"}],
    }))
    paths.audit.mkdir(parents=True, exist_ok=True)
    for name, cluster in state["clusters"].items():
        d = paths.cluster(name)
        t = tokens[name]
        write_private(d / "tokens.csv", "".join([
            f'{t[ADMIN_USER]},{ADMIN_USER},{ADMIN_USER},"system:masters"\n',
            f"{t[AUTOMATION_USER]},{AUTOMATION_USER},{AUTOMATION_USER}\n",
            f'{t[KCM_USER]},{KCM_USER},{KCM_USER},"system:masters"\n',
        ]))
        # The apiserver calls the lab OAuth process to review sha256~ tokens it does not know.
        webhook = _kubeconfig({"oauth": (f"{cluster['oauth_issuer']}/tokenreview", ca)}, {},
                              {"webhook": ("oauth", "apiserver", None)}, "webhook")
        webhook["users"] = [{"name": "apiserver", "user": {}}]
        write_private(d / "webhook.kubeconfig", yaml.safe_dump(webhook))
        write_private(d / "kcm.kubeconfig", yaml.safe_dump(_kubeconfig(
            {name: (cluster["server"], ca)}, {KCM_USER: t[KCM_USER]},
            {"kcm": (name, KCM_USER, None)}, "kcm")))


def _kubeconfig(clusters: dict, users: dict, contexts: dict, current: str | None) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": n, "cluster": {"server": s, "certificate-authority": ca}}
                     for n, (s, ca) in clusters.items()],
        "users": [{"name": n, "user": {"token": tok}} for n, tok in users.items()],
        "contexts": [
            {"name": n, "context": {"cluster": c, "user": u, **({"namespace": ns} if ns else {})}}
            for n, (c, u, ns) in contexts.items()
        ],
        "current-context": current or "",
    }


def write_kubeconfig(paths: LabPaths, state: dict, tokens: dict) -> None:
    ca = str(paths.pki / "ca.crt")
    clusters, users, contexts = {}, {}, {}
    for name, cluster in state["clusters"].items():
        clusters[name] = (cluster["server"], ca)
        users[f"{name}-admin"] = tokens[name][ADMIN_USER]
        users[f"{name}-automation"] = tokens[name][AUTOMATION_USER]
        first_ns = state["meshes"][cluster["meshes"][0]]["namespace"]
        contexts[cluster["admin_context"]] = (name, f"{name}-admin", None)
        contexts[cluster["automation_context"]] = (name, f"{name}-automation", first_ns)
    current = next(iter(state["clusters"].values()))["admin_context"]
    write_private(paths.kubeconfig, yaml.safe_dump(
        _kubeconfig(clusters, users, contexts, current), sort_keys=False))


def write_inventory(paths: LabPaths, state: dict) -> None:
    hosts = {}
    for mesh, m in state["meshes"].items():
        cluster = state["clusters"][m["cluster"]]
        hosts[mesh] = {
            "ansible_connection": "local",
            "ansible_python_interpreter": "{{ ansible_playbook_python }}",
            "mesh_cluster": {
                "kubeconfig": str(paths.kubeconfig),
                "context": cluster["automation_context"],
                "name": m["cluster"],
            },
            # The demo's sharing: every mesh offers its ratings Service to every peer and
            # imports every peer's (under the default imported domain).
            "mesh_exports": [{"service": "ratings", "namespace": f"{mesh}-apps"}],
            "mesh_imports": [{"from": peer, "service": "ratings", "namespace": f"{peer}-apps"}
                             for peer in state["meshes"] if peer != mesh],
        }
    inventory = {"all": {"children": {"meshes": {
        "hosts": hosts, "vars": {"federation_wait_timeout": 120}}}}}
    header = "# Written by `python -m lab up` (tests/lab); inventory for playbooks/federate.yml.\n"
    paths.inventory.write_text(header + yaml.safe_dump(inventory, sort_keys=False))
