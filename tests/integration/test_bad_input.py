"""Bad input, as a user writes it: each case is the lab's inventory (or group variables, or an
extra variable) with one mistake, run through ``ansible-playbook playbooks/federate.yml``.

Every case must be refused by the plan step before any login or pre-flight task, with a problem
line that names the mesh (its inventory host when that differs) or the group variable, the
variable and the reason; no run may write anything on the apiservers. The cases run four at a
time; every failing case is reported, not only the first.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from ansible_run import load_inventory, mesh_hosts, run_playbook
from common import now, writes

PLAN_TASK = "Validate the whole plan before contacting any cluster"
# Only the plan role's tasks may run (no login, no mesh_info, no gateways): their names as the
# callback records them, "<role> : <task>".
PLAN_ROLE = "servicemesh.federation.plan : "
WORKERS = 4

RED, GREEN, BLUE = "red-mesh", "green-mesh", "blue-mesh"


def raw(text: str) -> str:
    """A scalar written into the inventory file exactly as ``text`` (unquoted), so that YAML
    reads it as a user's file would: ``on`` and ``no`` as booleans, ``0123`` as a number."""
    return f"RAW__{text}__RAW"


def _dump(inventory: dict) -> str:
    text = yaml.safe_dump(inventory, sort_keys=False)
    return re.sub(r"RAW__(.*?)__RAW", r"\1", text)


@dataclass
class Case:
    id: str
    edit: Callable[[dict], None]
    where: str    # how the problem line starts: "mesh 'x' (inventory host 'y'): field:" or var
    reason: str   # a fragment of the reason, in the same line
    extra_vars: dict | None = None
    alone: bool = False  # the only problem: no follow-on noise from the same mistake


def hosts(changes: dict) -> Callable[[dict], None]:
    """Set (or, with None, remove) host variables; a host not in the lab is added."""
    def edit(inventory):
        all_hosts = mesh_hosts(inventory)
        for host, variables in changes.items():
            target = all_hosts.setdefault(host, {})
            for key, value in variables.items():
                if value is None:
                    target.pop(key, None)
                else:
                    target[key] = value
    return edit


def group(**variables) -> Callable[[dict], None]:
    def edit(inventory):
        inventory["all"]["children"]["meshes"].setdefault("vars", {}).update(variables)
    return edit


def both(*edits) -> Callable[[dict], None]:
    def edit(inventory):
        for one in edits:
            one(inventory)
    return edit


def rename_host(old: str, new: str) -> Callable[[dict], None]:
    """The host ``old`` listed as ``new`` (no mesh_name: the hostname names the mesh); the other
    meshes' imports from ``old`` are dropped so that the case has one mistake."""
    def edit(inventory):
        all_hosts = mesh_hosts(inventory)
        all_hosts[new] = all_hosts.pop(old)
        for variables in all_hosts.values():
            variables["mesh_imports"] = [i for i in variables.get("mesh_imports") or []
                                         if i.get("from") != old]
    return edit


def cluster(mesh: str, **keys) -> Callable[[dict], None]:
    """Change mesh_cluster of ``mesh`` (keys set to None are removed)."""
    def edit(inventory):
        current = dict(mesh_hosts(inventory)[mesh]["mesh_cluster"])
        for key, value in keys.items():
            if value is None:
                current.pop(key, None)
            else:
                current[key] = value
        mesh_hosts(inventory)[mesh]["mesh_cluster"] = current
    return edit


def peers(host: str, value) -> Callable[[dict], None]:
    return hosts({host: {"mesh_peers": value}})


def red(field_: str) -> str:
    return f"mesh '{RED}': {field_}:"


NODE_PORT = {"type": "NodePort", "node_ports": {"discovery": 30101, "service": 30102}}

CASES = [
    # --- mesh names --------------------------------------------------------------------------
    Case("name-uppercase", hosts({RED: {"mesh_name": "Red_Mesh"}}),
         f"mesh 'Red_Mesh' (inventory host '{RED}'): mesh_name:", "DNS-1123"),
    Case("name-reserved-istio", hosts({RED: {"mesh_name": "istio"}}),
         f"mesh 'istio' (inventory host '{RED}'): mesh_name:", "reserved"),
    Case("name-yaml-on", hosts({RED: {"mesh_name": raw("on")}}),
         f"mesh 'True' (inventory host '{RED}'): mesh_name:",
         "must be a string, got True (YAML reads unquoted yes/no/on/off/true/false as a boolean"),
    Case("name-yaml-octal", hosts({RED: {"mesh_name": raw("0123")}}),
         f"mesh '83' (inventory host '{RED}'): mesh_name:",
         "got 83 (YAML read it as a number: quote the value)"),
    Case("hostname-not-a-label", rename_host(BLUE, "Blue.Mesh"),
         "mesh 'Blue.Mesh': mesh_name:", "defaults to the inventory hostname; set mesh_name"),
    Case("namespace-yaml-no", hosts({RED: {"mesh_namespace": raw("no")}}),
         red("mesh_namespace"), "got False (YAML reads unquoted"),
    Case("trust-domain-scheme", hosts({RED: {"mesh_trust_domain": "spiffe://red.local"}}),
         red("mesh_trust_domain"), "scheme"),
    Case("trust-domain-empty", hosts({RED: {"mesh_trust_domain": ""}}),
         red("mesh_trust_domain"), "empty"),
    # --- duplicates --------------------------------------------------------------------------
    Case("mesh-listed-twice",
         hosts({"red-mesh-again": {
             "mesh_name": RED, "mesh_cluster": {"kubeconfig": "/dev/null", "context": "x"}}}),
         f"mesh '{RED}' (inventory host 'red-mesh-again'): mesh_name:",
         f"also the name of inventory host '{RED}'"),
    Case("trust-domain-twice", hosts({GREEN: {"mesh_trust_domain": "blue-mesh.local"}}),
         f"mesh '{GREEN}': mesh_trust_domain:", "also the trust domain of mesh 'blue-mesh'"),
    Case("namespace-twice-on-one-cluster",
         both(cluster(GREEN, context="red-mesh-automation", name="red-mesh"),
              hosts({GREEN: {"mesh_namespace": "red-mesh-system"}})),
         f"mesh '{RED}': mesh_namespace:", "also the control plane namespace of mesh"),
    Case("link-twice-reversed", group(federation_links=[[RED, GREEN], [GREEN, RED]]),
         "federation_links[1]:", "duplicates federation_links[0]", alone=True),
    Case("node-port-twice",
         peers(RED, {GREEN: {"ingress_service": NODE_PORT},
                     BLUE: {"ingress_service": NODE_PORT}}),
         red(f"mesh_peers.{GREEN}.ingress_service.node_ports.discovery"),
         "node port 30101 is also set in"),
    Case("gateway-name-twice",
         peers(RED, {GREEN: {"ingress_gateway": "fed-gw"}, BLUE: {"ingress_gateway": "fed-gw"}}),
         red(f"mesh_peers.{GREEN}.ingress_gateway"), "'fed-gw' is already the ingress gateway"),
    # --- unknown keys ------------------------------------------------------------------------
    Case("mesh-variable-typo", hosts({RED: {"mesh_trustdomain": "red.example"}}),
         red("mesh_trustdomain"), "unknown variable"),
    Case("cluster-unknown-key", cluster(RED, token="abc"), red("mesh_cluster.token"),
         "unknown key"),
    Case("override-unknown-key", peers(RED, {GREEN: {"port": 8188}}),
         red(f"mesh_peers.{GREEN}.port"), "unknown override"),
    Case("group-variable-typo", group(federation_wait_timout=60), "federation_wait_timout:",
         "did you mean federation_wait_timeout?"),
    # --- impossible links --------------------------------------------------------------------
    Case("link-to-itself", group(federation_links=[[RED, RED]]), "federation_links[0]:",
         "itself", alone=True),
    Case("link-unknown-mesh", group(federation_links=[[RED, "purple-mesh"]]),
         "federation_links[0]:", "unknown mesh 'purple-mesh'", alone=True),
    Case("links-a-string", group(federation_links=f"{RED},{GREEN}"), "federation_links:",
         "must be a list", alone=True),
    Case("link-yaml-on", group(federation_links=[[RED, raw("on")]]), "federation_links[0]:",
         "exactly two mesh names, got ['red-mesh', True] (YAML reads unquoted", alone=True),
    # --- ports out of range ------------------------------------------------------------------
    Case("discovery-port-zero", peers(RED, {GREEN: {"discovery_port": 0}}),
         red(f"mesh_peers.{GREEN}.discovery_port"), "from 1 to 65535, got 0"),
    Case("service-port-65536", peers(RED, {GREEN: {"service_port": 65536}}),
         red(f"mesh_peers.{GREEN}.service_port"), "from 1 to 65535, got 65536"),
    Case("port-quoted-string", peers(RED, {GREEN: {"discovery_port": "8188"}}),
         red(f"mesh_peers.{GREEN}.discovery_port"), "got '8188'"),
    Case("node-port-below-range",
         peers(RED, {GREEN: {"ingress_service": {"type": "NodePort",
                                                 "node_ports": {"discovery": 8188}}}}),
         red(f"mesh_peers.{GREEN}.ingress_service.node_ports.discovery"), "30000 to 32767"),
    # --- overrides for non-peers and bad override values ------------------------------------
    Case("override-for-unlinked-peer",
         both(group(federation_links=[[RED, GREEN], [GREEN, BLUE]]),
              peers(RED, {BLUE: {"addresses": ["192.0.2.10"]}})),
         red(f"mesh_peers.{BLUE}"), "not linked with that peer"),
    Case("override-for-unknown-mesh", peers(RED, {"purple-mesh": {"discovery_port": 8188}}),
         red("mesh_peers.purple-mesh"), "unknown peer mesh"),
    Case("override-for-itself", peers(RED, {RED: {"addresses": ["192.0.2.10"]}}),
         red(f"mesh_peers.{RED}"), "cannot peer with itself"),
    Case("addresses-empty", peers(RED, {GREEN: {"addresses": []}}),
         red(f"mesh_peers.{GREEN}.addresses"), "non-empty list"),
    Case("address-with-port", peers(RED, {GREEN: {"addresses": ["192.0.2.10:8188"]}}),
         red(f"mesh_peers.{GREEN}.addresses[0]"), "must not include a port"),
    Case("address-ipv6", peers(RED, {GREEN: {"addresses": ["2001:db8::1"]}}),
         red(f"mesh_peers.{GREEN}.addresses[0]"), "IPv6"),
    Case("peers-a-list", peers(RED, [GREEN]), red("mesh_peers"), "mapping"),
    Case("gateway-reserved-name", peers(RED, {GREEN: {"egress_gateway": "istio-egressgateway"}}),
         red(f"mesh_peers.{GREEN}.egress_gateway"), "reserved"),
    Case("ingress-service-with-external-gateways",
         both(group(federation_gateways="external"),
              peers(RED, {GREEN: {"ingress_service": NODE_PORT}})),
         red(f"mesh_peers.{GREEN}.ingress_service"), "only when federation_gateways is managed"),
    # --- cluster entries ---------------------------------------------------------------------
    Case("cluster-empty", hosts({RED: {"mesh_cluster": {}}}), red("mesh_cluster"),
         "no connection data"),
    Case("cluster-token-and-password",
         cluster(RED, kubeconfig=None, host="https://127.0.0.1:6443", api_key="t0ken",
                 username="admin", password="secret"),
         red("mesh_cluster"), "either api_key or username + password"),
    Case("cluster-username-without-password",
         cluster(RED, kubeconfig=None, host="https://127.0.0.1:6443", username="admin"),
         red("mesh_cluster.password"), "missing"),
    Case("cluster-host-not-url",
         cluster(RED, kubeconfig=None, host="api.red.example:6443", api_key="t0ken"),
         red("mesh_cluster.host"), "must be a URL"),
    Case("cluster-validate-certs-quoted", cluster(RED, validate_certs="maybe"),
         red("mesh_cluster.validate_certs"), "must be true or false, got 'maybe'"),
    # --- service sharing ---------------------------------------------------------------------
    Case("exports-a-string", hosts({RED: {"mesh_exports": "ratings"}}), red("mesh_exports"),
         "list of export rules"),
    Case("export-to-unknown-mesh",
         hosts({RED: {"mesh_exports": [{"service": "ratings", "namespace": "red-mesh-apps",
                                        "to": ["purple-mesh"]}]}}),
         red("mesh_exports[0].to[0]"), "unknown mesh 'purple-mesh'"),
    Case("import-from-unknown-mesh",
         hosts({RED: {"mesh_imports": [{"from": "purple-mesh", "service": "ratings",
                                        "namespace": "purple-mesh-apps"}]}}),
         red("mesh_imports[0].from"), "unknown mesh 'purple-mesh'"),
    Case("import-not-exported",
         hosts({RED: {"mesh_imports": [{"from": GREEN, "service": "reviews",
                                        "namespace": "green-mesh-apps"}]}}),
         red("mesh_imports[0]"), "does not export reviews.green-mesh-apps to this mesh"),
    # --- federation_* group and extra variables ---------------------------------------------
    Case("wait-timeout-word", group(federation_wait_timeout="soon"), "federation_wait_timeout:",
         "whole number of seconds (1 or more), got 'soon'"),
    Case("wait-timeout-yaml-on", group(federation_wait_timeout=raw("on")),
         "federation_wait_timeout:", "got True (YAML reads unquoted"),
    Case("take-over-extra-var", lambda inventory: None, "federation_take_over:",
         "must be true or false, got 'maybe'", extra_vars={"federation_take_over": "maybe"}),
    Case("gateways-unknown-mode", group(federation_gateways="auto"), "federation_gateways:",
         "must be one of managed, external, got 'auto'"),
    Case("unfederate-unknown-mesh", group(federation_unfederate_mesh="purple-mesh"),
         "federation_unfederate_mesh:", "'purple-mesh' is not a mesh of this run"),
    Case("report-dir-relative", group(federation_report_dir="reports"),
         "federation_report_dir:", "must be an absolute path"),
]


def _run_case(case: Case, inventory: dict, directory: Path):
    edited = copy.deepcopy(inventory)
    case.edit(edited)
    path = directory / f"{case.id}.yml"
    path.write_text(_dump(edited))
    return run_playbook("federate.yml", path, extra_vars=case.extra_vars, timeout=300)


def _check(case: Case, run) -> str | None:
    """What is wrong with the way ``run`` refused ``case`` (None: refused as it should be)."""
    tasks = {r["task"] for r in run.records if "task" in r}
    beyond = sorted(t for t in tasks if not t.startswith(PLAN_ROLE))
    if beyond:
        return f"ran beyond the plan: {beyond}"
    if run.rc == 0:
        return "not refused (rc 0)"
    failed = run.results(PLAN_TASK, status="failed")
    if len(failed) != 1:
        return f"the plan did not fail once: {run.explain()}"
    problems = next(iter(failed.values())).get("problems") or []
    if case.alone and len(problems) != 1:
        return f"expected one problem, got {len(problems)}: {problems}"
    for line in problems:
        if line.startswith(case.where) and case.reason in line:
            return None
    return (f"no problem line starting with {case.where!r} that says {case.reason!r}; "
            f"problems: {problems}")


def test_the_bad_input_table_has_at_least_40_distinct_cases():
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)


def test_every_bad_input_is_refused_by_the_plan_before_any_login_with_no_write(lab, tmp_path):
    inventory = load_inventory(lab.inventory)
    since = now()
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        runs = list(pool.map(lambda c: _run_case(c, inventory, tmp_path), CASES))
    complaints = [f"{case.id}: {why}" for case, run in zip(CASES, runs, strict=True)
                  if (why := _check(case, run))]
    written = writes(lab, lab.state["clusters"], since)
    assert not complaints and written == 0, (
        f"{len(complaints)} of {len(CASES)} cases not refused as they should be; "
        f"{written} write(s) on the apiservers:\n" + "\n".join(complaints))


NO_MESHES = "the inventory has no host in group 'meshes'"


@pytest.mark.parametrize("playbook", ["federate.yml", "verify.yml", "unfederate.yml"])
@pytest.mark.parametrize("inventory", [
    {"all": {"children": {"meshes": {"hosts": {}}}}},  # the group, empty
    {"all": {"hosts": {"red-mesh": {"mesh_namespace": "red-mesh-system"}}}},  # no such group
], ids=["empty-group", "no-group"])
def test_an_inventory_without_meshes_is_refused(playbook, inventory, tmp_path):
    """Ansible itself only warns "no hosts matched" and ends with rc 0, as if all were done."""
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump(inventory))
    run = run_playbook(playbook, path, timeout=120)
    assert run.rc != 0, run.explain()
    assert NO_MESHES in run.failure_text(), run.explain()
    assert not any(r.get("host") not in (None, "localhost") for r in run.records), run.records
