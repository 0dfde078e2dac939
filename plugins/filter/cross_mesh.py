# Copyright (c) servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Cross-mesh steps of the playbooks (documented in the federation_*.yml sidecar files)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.servicemesh.federation.plugins.module_utils.logic import cross_mesh


def _call(name, function, *args):
    try:
        return function(*args)
    except (KeyError, TypeError, AttributeError) as exc:
        raise AnsibleFilterError(f"{name}: malformed input ({exc!r})") from exc


def federation_run_links(links, outside=()):
    return _call("federation_run_links", cross_mesh.run_links, links, outside)


def federation_preflight_problems(hosts, hostvars, play_hosts):
    return _call("federation_preflight_problems", cross_mesh.preflight_problems, hosts, hostvars,
                 play_hosts)


def federation_peer_facts(links, hostvars):
    return _call("federation_peer_facts", cross_mesh.peer_facts, links, hostvars)


def federation_inspect_peers(mesh, plan):
    return _call("federation_inspect_peers", cross_mesh.inspect_peers, mesh, plan)


def federation_inspect_exports(links):
    return _call("federation_inspect_exports", cross_mesh.inspect_exports, links)


def federation_drift(mesh, namespace, objects, gateway_entries=()):
    return _call("federation_drift", cross_mesh.drift, mesh, namespace, objects, gateway_entries)


def federation_status_results(hosts, hostvars):
    return _call("federation_status_results", cross_mesh.status_results, hosts, hostvars)


def federation_report_lines(drift, failed_meshes, failures, directions, failures_text=""):
    return _call("federation_report_lines", cross_mesh.report_lines, drift, failed_meshes, failures,
                 directions, failures_text)


def federation_report_headline(drift, failed_meshes, failures, directions):
    return _call("federation_report_headline", cross_mesh.report_headline, drift, failed_meshes,
                 failures, directions)


class FilterModule:
    def filters(self):
        return {
            "federation_run_links": federation_run_links,
            "federation_preflight_problems": federation_preflight_problems,
            "federation_peer_facts": federation_peer_facts,
            "federation_inspect_peers": federation_inspect_peers,
            "federation_inspect_exports": federation_inspect_exports,
            "federation_status_results": federation_status_results,
            "federation_drift": federation_drift,
            "federation_report_lines": federation_report_lines,
            "federation_report_headline": federation_report_headline,
        }
