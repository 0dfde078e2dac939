# Copyright (c) servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Federation plan: validate the inventory and expand it into per-direction links.

Pure Python (stdlib only) so it runs on the controller before any cluster is contacted and can
be unit tested without Ansible. ``build_plan`` collects *every* problem and raises them together.
Problem messages never contain credential values (api_key, password, kubeconfig).
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Mapping
from itertools import permutations

from ansible_collections.servicemesh.federation.plugins.module_utils.errors import PlanError
from ansible_collections.servicemesh.federation.plugins.module_utils.naming import (
    PASSWORDS_ENV,
    RESERVED_GATEWAYS,
    ca_configmap_name,
    client_id,
    egress_gateway_name,
    ingress_gateway_name,
    network_name,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.sharing import (
    check_imports,
    dns1123_label_error,
    link_sharing,
    read_exports,
    read_imports,
)

MESH_VARS = ("mesh_name", "mesh_namespace", "mesh_trust_domain", "mesh_cluster", "mesh_peers",
             "mesh_exports", "mesh_imports")
CLUSTER_KEYS = (
    "host", "api_key", "kubeconfig", "context", "username", "password",
    "ca_cert", "validate_certs", "name", "oauth_host",
)
SECRET_CLUSTER_KEYS = ("api_key", "password")
HIDDEN = "<hidden>"
OVERRIDE_KEYS = ("addresses", "discovery_port", "service_port", "ingress_gateway", "egress_gateway",
                 "ingress_service")
INGRESS_SERVICE_KEYS = ("type", "annotations", "node_ports")
INGRESS_SERVICE_TYPES = ("LoadBalancer", "NodePort")
NODE_PORT_KEYS = ("discovery", "service")
NODE_PORT_RANGE = (30000, 32767)  # the API server's default service-node-port-range
GATEWAY_MODES = ("managed", "external")
# A peer named "istio" (or "ossm") would get the CA ConfigMap "istio-ca-root-cert" (or
# "ossm-ca-root-cert"): the name of the mesh's OWN root ConfigMap (fact sheet §2).
RESERVED_MESH_NAMES = ("istio", "ossm")
# Group variables a user may set for all meshes (README "Variables"); the plan checks each one.
USER_VARIABLES = ("federation_links", "federation_wait_timeout", "federation_take_over",
                  "federation_gateways", "federation_unfederate_mesh", "federation_report_dir",
                  "federation_accept_root_change", "federation_root_min_days")
# The collection's roles name their variables and facts federation_<role> / federation_<role>_*
# (federation_plan_mesh, federation_wait_peers, ...), so such names are the collection's own,
# not user typos, even though some share a prefix with a user variable (federation_gateways_*).
# A role-prefixed name is still a typo when it is a near miss of a user variable
# (federation_wait_timout): no role name is as similar as TYPO_CUTOFF to one (unit tested).
ROLE_PREFIXES = ("plan", "login", "inspect", "gateways", "apply", "wait", "report")
# What the playbooks publish with set_stats: AWX hands a job's artifacts to the next workflow
# node as extra variables (verify.yml after federate.yml gets federation_matrix).
PUBLISHED_VARIABLES = ("federation_matrix",)
# difflib's similarity ratio from which a name is a typo of a user variable: one or two letters
# off (federation_link, federation_takeover), not a role's own federation_report_drift (0.91).
TYPO_CUTOFF = 0.93
# Strings Ansible reads as booleans, as `-e federation_take_over=true` passes them.
BOOL_STRINGS = ("true", "false", "yes", "no", "on", "off")

CLIENT_ID_RE = re.compile(r"^[^/]+/ns/[^/]+/sa/[^/]+$")
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_HOSTNAME_LABEL = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?$")
# SPIFFE trust domain characters: lowercase letters, digits, '.', '-', '_'.
_TRUST_DOMAIN = re.compile(r"^[a-z0-9._-]+$")
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


def gateway_name_error(value) -> str | None:
    """Why ``value`` cannot name a gateway (its Service name is a DNS-1035 label), or None."""
    if not isinstance(value, str) or not value:
        return "must be a non-empty string"
    if len(value) > 63:
        return f"{value!r} is longer than 63 characters"
    if not _DNS1035_LABEL.match(value):
        return (f"{value!r} is not a valid Service name (DNS-1035 label: lowercase letters, digits "
                "and '-', starting with a letter, ending with a letter or digit)")
    if value in RESERVED_GATEWAYS:
        return f"{value!r} is reserved by the Service Mesh operator"
    return None


def trust_domain_error(value) -> str | None:
    if not isinstance(value, str) or not value:
        return "must be a non-empty string"
    if "://" in value:
        return (f"{value!r} must not include a scheme: peers build client IDs "
                "<trust domain>/ns/<namespace>/sa/<account> without 'spiffe://'")
    if "/" in value:
        return f"{value!r} must not contain '/'"
    if not _TRUST_DOMAIN.match(value):
        return f"{value!r} may contain only lowercase letters, digits, '.', '-' and '_'"
    return None


def address_error(value) -> str | None:
    """Why ``value`` is not a hostname or IPv4 address without a port, or None."""
    if not isinstance(value, str) or not value:
        return "must be a non-empty string"
    if "://" in value:
        return f"{value!r} must be a hostname or IP address, not a URL"
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        pass
    else:
        if ip.version == 6:
            return f"{value!r}: IPv6 is not supported by Service Mesh 2.x federation"
        return None
    if value.count(":") == 1 or value.startswith("["):
        return (f"{value!r} must not include a port "
                "(set discovery_port / service_port instead)")
    name = value[:-1] if value.endswith(".") else value
    if len(name) > 253 or not all(_HOSTNAME_LABEL.match(p) and len(p) <= 63
                                  for p in name.split(".")):
        return f"{value!r} is not a valid hostname or IPv4 address"
    return None


def yaml_hint(value) -> str:
    """Why a value is not the string the user meant, when YAML read it as something else."""
    values = value if isinstance(value, (list, tuple)) else [value]
    if any(isinstance(v, bool) for v in values):
        return (" (YAML reads unquoted yes/no/on/off/true/false as a boolean: quote the "
                "value)")
    if any(isinstance(v, (int, float)) for v in values):
        return " (YAML read it as a number: quote the value)"
    return ""


def not_a_string(value) -> str | None:
    """The reason for a non-string where a name is expected (None for a string)."""
    if isinstance(value, str):
        return None
    return f"must be a string, got {value!r}{yaml_hint(value)}"


def port_error(value) -> str | None:
    # bool is an int subclass; `true` is never a port.
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        return f"must be an integer from 1 to 65535, got {value!r}"
    return None


def _near_user_variable(name: str) -> str | None:
    close = difflib.get_close_matches(name, USER_VARIABLES, n=1, cutoff=TYPO_CUTOFF)
    return close[0] if close else None


def unknown_variable_error(name: str) -> str | None:
    """Why the ``federation_*`` variable ``name`` is not one a user may set, or None."""
    if name in USER_VARIABLES or name in PUBLISHED_VARIABLES:
        return None
    near = _near_user_variable(name)
    role_own = any(name == f"federation_{role}" or name.startswith(f"federation_{role}_")
                   for role in ROLE_PREFIXES)
    if role_own and not near:
        return None
    hint = f"did you mean {near}? " if near else ""
    return f"unknown variable ({hint}known: {', '.join(USER_VARIABLES)})"


def _check_settings(p: _Problems, settings: Mapping, variables, names, outside) -> None:
    """Check the raw values of the federation_* group variables the user set (``settings``:
    name -> value; a missing or null entry means unset) and the names of all federation_*
    variables found (``variables``), so that nothing is refused later by a role's argument
    check under a name the user never wrote."""
    for name in sorted({v for v in variables or () if isinstance(v, str)}):
        err = unknown_variable_error(name)
        if err:
            p.general(name, err)
    settings = settings or {}
    for name in sorted(set(settings) - set(USER_VARIABLES), key=str):
        p.general(str(name), "not a setting the plan knows")
    timeout = settings.get("federation_wait_timeout")
    if timeout is not None:
        text = timeout.strip() if isinstance(timeout, str) else None
        whole = (text.isdigit() and int(text) >= 1) if text else (
            isinstance(timeout, int) and not isinstance(timeout, bool) and timeout >= 1)
        if not whole:
            p.general("federation_wait_timeout",
                      f"must be a whole number of seconds (1 or more), got {timeout!r}"
                      + (yaml_hint(timeout) if isinstance(timeout, bool) else ""))
    take_over = settings.get("federation_take_over")
    if take_over is not None and not (
            isinstance(take_over, bool)
            or (isinstance(take_over, str) and take_over.strip().lower() in BOOL_STRINGS)):
        p.general("federation_take_over", f"must be true or false, got {take_over!r}")
    mesh = settings.get("federation_unfederate_mesh")
    if mesh is not None:
        if not isinstance(mesh, str) or not mesh:
            p.general("federation_unfederate_mesh",
                      f"must be the name of one mesh of this run, got {mesh!r} "
                      f"(leave it unset to unfederate every mesh){yaml_hint(mesh)}")
        elif mesh not in names:
            where = " (left out of this run by --limit)" if mesh in outside else ""
            p.general("federation_unfederate_mesh",
                      f"{mesh!r} is not a mesh of this run{where} "
                      f"(known meshes: {', '.join(sorted(names))})")
    _check_root_settings(p, settings, names, outside)
    report_dir = settings.get("federation_report_dir")
    if report_dir is not None and not (isinstance(report_dir, str)
                                       and report_dir.startswith("/")):
        p.general("federation_report_dir",
                  f"must be an absolute path (the report files are written on the controller), "
                  f"got {report_dir!r}")


def _check_root_settings(p: _Problems, settings: Mapping, names, outside) -> None:
    """federation_accept_root_change: true / false or a list of meshes of this run;
    federation_root_min_days: a whole number of days, 0 or more."""
    accept = settings.get("federation_accept_root_change")
    field = "federation_accept_root_change"
    if isinstance(accept, list):
        for i, mesh in enumerate(accept):
            if not isinstance(mesh, str) or not mesh:
                p.general(f"{field}[{i}]", f"must be a mesh name, got {mesh!r}")
            elif mesh not in names:
                where = " (left out of this run by --limit)" if mesh in outside else ""
                p.general(f"{field}[{i}]", f"{mesh!r} is not a mesh of this run{where} "
                                           f"(known meshes: {', '.join(sorted(names))})")
            elif mesh in accept[:i]:
                p.general(f"{field}[{i}]", f"{mesh!r} is listed twice")
    elif accept is not None and not (
            isinstance(accept, bool)
            or (isinstance(accept, str) and accept.strip().lower() in BOOL_STRINGS)):
        p.general(field, "must be true (accept the new root of every mesh), false, or a list "
                         f"of the mesh names whose new root you accept, got {accept!r} (on the "
                         "command line: -e '{\"federation_accept_root_change\": [\"<mesh>\"]}')")
    days = settings.get("federation_root_min_days")
    if days is not None:
        text = days.strip() if isinstance(days, str) else None
        whole = text.isdigit() if text else (
            isinstance(days, int) and not isinstance(days, bool) and days >= 0)
        if not whole:
            p.general("federation_root_min_days",
                      f"must be a whole number of days (0 or more), got {days!r}")


class _Problems:
    """Collects problem messages, each naming the mesh (and inventory host), field and reason."""

    def __init__(self):
        self.items: list[str] = []

    def mesh(self, mesh: dict, field: str, reason: str) -> None:
        where = f"mesh {mesh['name']!r}"
        if mesh["host"] != mesh["name"] or mesh.get("_duplicate"):
            where += f" (inventory host {mesh['host']!r})"
        self.items.append(f"{where}: {field}: {reason}")

    def general(self, field: str, reason: str) -> None:
        self.items.append(f"{field}: {reason}")


def _str_var(hostvars: dict, key: str, default: str) -> str:
    value = hostvars.get(key)
    return default if value is None else value


def cluster_name(cluster) -> str | None:
    """The cluster's name: mesh_cluster.name, else its context, else its host (reports use it,
    and the passwords file is keyed by it)."""
    cluster = cluster if isinstance(cluster, dict) else {}
    for key in ("name", "context", "host"):
        if isinstance(cluster.get(key), str) and cluster[key]:
            return cluster[key]
    return None


def _check_cluster(p: _Problems, mesh: dict, cluster, env_auth: bool,
                   passwords: dict | None = None) -> str | None:
    """Validate mesh_cluster; return the auth method or None. Never echoes secret values.

    ``passwords`` describes the passwords file (see build_plan); None: there is none.
    """
    if cluster is None:
        cluster = {}
    if not isinstance(cluster, dict):
        p.mesh(mesh, "mesh_cluster", "must be a mapping of connection settings")
        return None
    for key in sorted(set(cluster) - set(CLUSTER_KEYS)):
        p.mesh(mesh, f"mesh_cluster.{key}",
               f"unknown key (known keys: {', '.join(CLUSTER_KEYS)})")

    def given(key):
        return cluster.get(key) not in (None, "")

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
        if isinstance(cluster.get(key), str) and given(key) and not _URL.match(cluster[key]):
            p.mesh(mesh, f"mesh_cluster.{key}",
                   f"{cluster[key]!r} must be a URL such as https://api.example.com:6443")

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


def _password_in_file(p: _Problems, mesh: dict, cluster: dict, passwords: dict | None):
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


def _cluster_display(cluster, auth: str | None) -> str:
    name = cluster_name(cluster)
    if name:
        return name
    if auth == "environment":
        return "K8S_AUTH_* environment"
    return "kubeconfig default context"


def _cluster_identity(cluster) -> tuple | None:
    """Something that names the same cluster for two meshes, when we can tell."""
    if not isinstance(cluster, dict):
        return None
    if isinstance(cluster.get("host"), str) and cluster["host"]:
        return ("host", cluster["host"].rstrip("/"))
    if isinstance(cluster.get("kubeconfig"), str) and cluster["kubeconfig"]:
        return ("kubeconfig", cluster["kubeconfig"], cluster.get("context"))
    return None


def _read_mesh(p: _Problems, host: str, hostvars) -> dict:
    """Apply defaults and validate the per-mesh scalars."""
    if not isinstance(hostvars, dict):
        hostvars = {}
        p.general(f"inventory host {host!r}", "host variables must be a mapping")
    name = _str_var(hostvars, "mesh_name", host)
    mesh = {"name": name if isinstance(name, str) else str(name), "host": host}
    for key in sorted(k for k in hostvars if isinstance(k, str) and k.startswith("mesh_")):
        if key not in MESH_VARS:
            p.mesh(mesh, key, f"unknown variable (known: {', '.join(MESH_VARS)})")

    err = not_a_string(name) or dns1123_label_error(name)
    if err:
        hint = ("it names the ServiceMeshPeer on the other meshes" if "mesh_name" in hostvars
                else "it defaults to the inventory hostname; set mesh_name")
        p.mesh(mesh, "mesh_name", f"{err} ({hint})")
    elif name in RESERVED_MESH_NAMES:
        p.mesh(mesh, "mesh_name",
               f"{name!r} is reserved: peers would store its root in {name}-ca-root-cert, "
               "the name of their own mesh root ConfigMap")
    valid_name = err is None
    mesh["namespace"] = _str_var(hostvars, "mesh_namespace", f"{mesh['name']}-system")
    mesh["trust_domain"] = _str_var(hostvars, "mesh_trust_domain", f"{mesh['name']}.local")
    # Defaults derived from an invalid name would only repeat the mesh_name problem.
    for key, field, check in (("namespace", "mesh_namespace", dns1123_label_error),
                              ("trust_domain", "mesh_trust_domain", trust_domain_error)):
        err = not_a_string(mesh[key]) or check(mesh[key])
        if err and (valid_name or hostvars.get(field) is not None):
            p.mesh(mesh, field, err)

    cluster = hostvars.get("mesh_cluster")
    mesh["_cluster"] = cluster
    mesh["_peers"] = hostvars.get("mesh_peers")
    mesh["_exports"] = hostvars.get("mesh_exports")
    mesh["_imports"] = hostvars.get("mesh_imports")
    mesh["_valid_name"] = valid_name
    return mesh


def _directions(p: _Problems, names: list[str], links) -> list[tuple[str, str]]:
    """Every ordered pair when links is None; both directions of each link otherwise ([] is
    valid and plans nothing: the plan role drops links outside a --limit run)."""
    if links is None:
        return list(permutations(sorted(names), 2))
    if not isinstance(links, list):
        p.general("federation_links", "must be a list of two-mesh lists")
        return []
    known = set(names)
    seen: dict[frozenset, int] = {}
    directions = []
    for i, link in enumerate(links):
        field = f"federation_links[{i}]"
        if (not isinstance(link, (list, tuple)) or len(link) != 2
                or not all(isinstance(m, str) for m in link)):
            p.general(field, f"must be a list of exactly two mesh names, got {link!r}"
                             + (yaml_hint(link) if isinstance(link, (list, tuple)) else ""))
            continue
        a, b = link
        if a == b:
            p.general(field, f"links {a!r} to itself (a mesh cannot peer with itself)")
            continue
        unknown = [m for m in (a, b) if m not in known]
        if unknown:
            p.general(field, f"unknown mesh {', '.join(map(repr, unknown))} "
                             f"(known meshes: {', '.join(sorted(known))})")
            continue
        key = frozenset(link)
        if key in seen:
            p.general(field, f"duplicates federation_links[{seen[key]}] "
                             "(a link already means both directions)")
            continue
        seen[key] = i
        directions += [(a, b), (b, a)]
    return sorted(directions)


def _check_ingress_service(p: _Problems, mesh: dict, field: str, value, gateways: str,
                           used_ports: dict) -> dict | None:
    """Validate a mesh_peers.<peer>.ingress_service override; return its plan form or None."""
    if gateways != "managed":
        p.mesh(mesh, field, "applies only when federation_gateways is managed (the collection "
                            "creates the gateway Service)")
        return None
    if not isinstance(value, dict):
        p.mesh(mesh, field, "must be a mapping with type, annotations and/or node_ports")
        return None
    ok = True
    for key in sorted(set(value) - set(INGRESS_SERVICE_KEYS), key=str):
        p.mesh(mesh, f"{field}.{key}", f"unknown key (known: {', '.join(INGRESS_SERVICE_KEYS)})")
        ok = False
    kind = value.get("type", "LoadBalancer")
    if kind not in INGRESS_SERVICE_TYPES:
        p.mesh(mesh, f"{field}.type",
               f"must be one of {', '.join(INGRESS_SERVICE_TYPES)}, got {kind!r}")
        ok = False
    result = {"type": kind}
    annotations = value.get("annotations")
    if annotations is not None:
        if not isinstance(annotations, dict):
            p.mesh(mesh, f"{field}.annotations", "must be a mapping of names to strings")
            ok = False
        else:
            for key in sorted(annotations, key=str):
                if not isinstance(key, str) or not isinstance(annotations[key], str):
                    p.mesh(mesh, f"{field}.annotations.{key}",
                           f"values must be strings, got {annotations[key]!r} (quote it in YAML)")
                    ok = False
            result["annotations"] = dict(annotations)
    ports = value.get("node_ports")
    if ports is not None:
        ok = _check_node_ports(p, mesh, f"{field}.node_ports", ports, kind, used_ports) and ok
        result["node_ports"] = dict(ports) if isinstance(ports, dict) else ports
    return result if ok else None


def _check_node_ports(p: _Problems, mesh: dict, field: str, ports, kind: str,
                      used_ports: dict) -> bool:
    if kind != "NodePort":
        p.mesh(mesh, field, "needs type: NodePort")
        return False
    if not isinstance(ports, dict) or not ports:
        p.mesh(mesh, field, "must be a mapping with discovery and/or service")
        return False
    ok = True
    for key in sorted(set(ports) - set(NODE_PORT_KEYS), key=str):
        p.mesh(mesh, f"{field}.{key}", f"unknown key (known: {', '.join(NODE_PORT_KEYS)})")
        ok = False
    low, high = NODE_PORT_RANGE
    for key in NODE_PORT_KEYS:
        if key not in ports:
            continue
        port = ports[key]
        if isinstance(port, bool) or not isinstance(port, int) or not low <= port <= high:
            p.mesh(mesh, f"{field}.{key}",
                   f"must be an integer from {low} to {high} (node port range), got {port!r}")
            ok = False
        elif port in used_ports:
            # Node ports are cluster-wide: two gateway Services cannot share one.
            p.mesh(mesh, f"{field}.{key}", f"node port {port} is also set in {used_ports[port]}")
            ok = False
        else:
            used_ports[port] = f"{field}.{key}"
    return ok


def _check_overrides(p: _Problems, mesh: dict, linked: set[str], known: set[str],
                     outside: set[str], gateways: str = "managed") -> dict:
    """Validate mesh_peers; return {peer: overrides} for the valid peer entries.

    Entries for meshes ``outside`` this run (inventory meshes left out by --limit) are skipped.
    """
    peers = mesh["_peers"]
    if peers is None:
        return {}
    if not isinstance(peers, dict):
        p.mesh(mesh, "mesh_peers", "must be a mapping keyed by peer mesh name")
        return {}
    result = {}
    used_ports: dict[int, str] = {}
    for peer in sorted(peers, key=str):
        field = f"mesh_peers.{peer}"
        if peer == mesh["name"]:
            p.mesh(mesh, field, "a mesh cannot peer with itself")
            continue
        if peer in outside and peer not in known:
            continue
        if peer not in known:
            p.mesh(mesh, field, f"unknown peer mesh (known meshes: {', '.join(sorted(known))})")
            continue
        if peer not in linked:
            p.mesh(mesh, field, "this mesh is not linked with that peer (see federation_links)")
            continue
        over = peers[peer]
        if over is None:
            over = {}
        if not isinstance(over, dict):
            p.mesh(mesh, field, "must be a mapping of overrides")
            continue
        for key in sorted(set(over) - set(OVERRIDE_KEYS), key=str):
            p.mesh(mesh, f"{field}.{key}",
                   f"unknown override (known: {', '.join(OVERRIDE_KEYS)})")
        if "addresses" in over:
            addresses = over["addresses"]
            if not isinstance(addresses, list) or not addresses:
                p.mesh(mesh, f"{field}.addresses",
                       "must be a non-empty list of hostnames or IP addresses")
            else:
                for i, address in enumerate(addresses):
                    err = address_error(address)
                    if err:
                        p.mesh(mesh, f"{field}.addresses[{i}]", err)
        for key in ("discovery_port", "service_port"):
            if key in over:
                err = port_error(over[key])
                if err:
                    p.mesh(mesh, f"{field}.{key}", err)
        if "ingress_service" in over:
            over = dict(over, ingress_service=_check_ingress_service(
                p, mesh, f"{field}.ingress_service", over["ingress_service"], gateways,
                used_ports))
        result[peer] = over
    return result


def build_plan(meshes: dict, links: list | None = None, env_auth: bool = False,
               outside=(), gateways: str | None = "managed",
               passwords: dict | None = None, settings: Mapping | None = None,
               variables=None) -> dict:
    """Validate the inventory and return the federation plan (see docs/architecture.md).

    ``meshes`` maps inventory hostname -> that host's variables (mesh_* keys; other keys are
    ignored, unknown ``mesh_*`` keys are reported as typos). ``links`` is ``federation_links``
    (None: every ordered pair). ``env_auth`` tells that K8S_AUTH_* environment variables supply
    the connection, so an empty ``mesh_cluster`` is accepted. ``outside`` names meshes of the
    inventory that are not part of this run (--limit): mesh_peers entries, exports to and
    imports from them are ignored. ``gateways`` is ``federation_gateways`` (None: managed).
    ``passwords`` describes the file named by FEDERATION_CLUSTER_PASSWORDS, when set:
    ``{"clusters": [names it has a password for]}`` or ``{"error": why it cannot be read}``
    (never the passwords); a mesh with a username and no password then needs its cluster name
    (``cluster_name``) in it. ``settings`` holds the raw values of the other federation_*
    group variables the user set (federation_wait_timeout, federation_take_over,
    federation_unfederate_mesh, federation_report_dir; absent or null: unset) and
    ``variables`` the names of every federation_* variable of the inventory, to report typos.
    Raises PlanError with every problem.
    """
    p = _Problems()
    if gateways is None:
        gateways = "managed"
    if gateways not in GATEWAY_MODES:
        p.general("federation_gateways", f"must be one of {', '.join(GATEWAY_MODES)}, "
                                         f"got {gateways!r}")
    if not isinstance(meshes, dict) or not meshes:
        raise PlanError(["meshes: no meshes given (is the inventory group 'meshes' empty?)"])

    by_host = {host: _read_mesh(p, str(host), meshes[host]) for host in sorted(meshes, key=str)}
    by_name: dict[str, dict] = {}
    for mesh in by_host.values():
        other = by_name.get(mesh["name"])
        if other:
            mesh["_duplicate"] = True
            p.mesh(mesh, "mesh_name",
                   f"{mesh['name']!r} is also the name of inventory host {other['host']!r}")
        else:
            by_name[mesh["name"]] = mesh

    # Uniqueness below is checked among distinctly named meshes: a duplicate name (reported
    # above) would otherwise repeat itself as a duplicate namespace and trust domain.
    owner: dict[str, dict] = {}
    for mesh in by_name.values():
        td = mesh["trust_domain"]
        if isinstance(td, str) and td in owner:
            p.mesh(mesh, "mesh_trust_domain",
                   f"{td!r} is also the trust domain of mesh {owner[td]['name']!r} "
                   "(trust domains must be unique)")
        owner.setdefault(td, mesh)

    for mesh in by_host.values():
        mesh["auth"] = _check_cluster(p, mesh, mesh["_cluster"], env_auth, passwords)
        mesh["cluster"] = _cluster_display(mesh["_cluster"], mesh["auth"])
    namespaces: dict[tuple, dict] = {}
    for mesh in by_name.values():
        identity = _cluster_identity(mesh["_cluster"])
        if identity is not None:
            key = (identity, mesh["namespace"])
            if key in namespaces:
                p.mesh(mesh, "mesh_namespace",
                       f"{mesh['namespace']!r} on the same cluster is also the control plane "
                       f"namespace of mesh {namespaces[key]['name']!r}")
            namespaces.setdefault(key, mesh)

    names = sorted(by_name)
    _check_settings(p, settings, variables, names, set(outside))
    before_links = len(p.items)
    directions = _directions(p, names, links)
    linked: dict[str, set[str]] = {name: set() for name in names}
    for a, b in directions:
        linked[a].add(b)
    if len(p.items) > before_links:
        # federation_links is wrong (reported): overrides and imports that name a peer it
        # should have linked would each repeat that as "not linked"; check them as if every
        # mesh were linked. The plan fails anyway.
        linked = {name: set(names) - {name} for name in names}
    overrides = {m["name"]: _check_overrides(p, m, linked[m["name"]], set(names), set(outside),
                                             gateways)
                 for m in by_name.values()}

    def report_for(name: str):
        return lambda field, reason: p.mesh(by_name[name], field, reason)

    exports, clean, imports = {}, {}, {}
    for name in names:
        scope = (linked[name], set(names), set(outside))
        exports[name], clean[name] = read_exports(report_for(name), name,
                                                  by_name[name]["_exports"], *scope)
        imports[name] = read_imports(report_for(name), name, by_name[name]["_imports"], *scope)
    check_imports(report_for, imports, exports, clean)

    def gateway(mesh_name: str, peer: str, kind: str) -> str:
        value = overrides.get(mesh_name, {}).get(peer, {}).get(f"{kind}_gateway")
        if value is not None:
            return value
        return ingress_gateway_name(peer) if kind == "ingress" else egress_gateway_name(peer)

    # Local gateway names per mesh: valid, and one dedicated gateway per peer and direction
    # (fact sheet §4.2: names unique across ingress and egress, never shared between peers).
    for name in names:
        mesh = by_name[name]
        used: dict[str, str] = {}
        for peer in sorted(linked[name]):
            for kind in ("ingress", "egress"):
                gw = gateway(name, peer, kind)
                field = f"mesh_peers.{peer}.{kind}_gateway"
                default = gw == (ingress_gateway_name(peer) if kind == "ingress"
                                  else egress_gateway_name(peer))
                if default and not by_name[peer]["_valid_name"]:
                    continue  # the peer's name is already reported; don't repeat it per mesh
                err = gateway_name_error(gw)
                if err:
                    p.mesh(mesh, field,
                           err + (" (the default name; set this override)" if default else ""))
                elif gw in used:
                    p.mesh(mesh, field, f"{gw!r} is already the {used[gw]} "
                                        "(each peer needs its own ingress and egress gateway)")
                else:
                    used[gw] = f"{kind} gateway for peer {peer!r}"

    plan_meshes = {}
    for name in names:
        mesh = by_name[name]
        plan_links = []
        for peer in sorted(linked[name]):
            other = by_name[peer]
            over = overrides.get(name, {}).get(peer, {})
            peer_egress = gateway(peer, name, "egress")
            # Valid trust domain, namespace and gateway name make a client ID that matches
            # CLIENT_ID_RE; each part was checked above, so no separate check here.
            cid = client_id(other["trust_domain"], other["namespace"], peer_egress)
            plan_links.append({
                "mesh": name,
                "peer": peer,
                "peer_host": other["host"],
                "namespace": mesh["namespace"],
                "peer_namespace": other["namespace"],
                "peer_trust_domain": other["trust_domain"],
                "ingress_gateway": gateway(name, peer, "ingress"),
                "egress_gateway": gateway(name, peer, "egress"),
                "peer_ingress_gateway": gateway(peer, name, "ingress"),
                "peer_egress_gateway": peer_egress,
                "client_id": cid,
                "ca_configmap": ca_configmap_name(peer),
                "addresses": over.get("addresses"),
                "discovery_port": over.get("discovery_port"),
                "service_port": over.get("service_port"),
                # The peer reaches this mesh's ingress for it through its own addresses
                # override: that ingress needs no address of its own (pre-flight, gateways).
                "ingress_address_overridden": bool(
                    overrides.get(peer, {}).get(name, {}).get("addresses")),
                "network": network_name(peer),
                "ingress_service": over.get("ingress_service") or {"type": "LoadBalancer"},
                **link_sharing(name, peer, exports[name], imports[name]),
            })
        plan_meshes[name] = {
            "name": name,
            "host": mesh["host"],
            "namespace": mesh["namespace"],
            "trust_domain": mesh["trust_domain"],
            "cluster": mesh["cluster"],
            "auth": mesh["auth"],
            "gateways": gateways,
            "links": plan_links,
        }

    if p.items:
        raise PlanError(sorted(p.items))
    return {"meshes": plan_meshes, "directions": [list(d) for d in directions]}
