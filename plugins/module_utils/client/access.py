# Copyright: (c) 2026, servicemesh.federation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pre-flight access check: which verbs a run needs in the mesh namespace that this identity
may not use, asked of the API server by SelfSubjectRulesReview (and SelfSubjectAccessReview when
the rules are incomplete). Reviews store nothing (not a write).
"""

from __future__ import annotations

from ansible_collections.servicemesh.federation.plugins.module_utils.client.cluster import (
    Cluster,
)

REVIEWS = "authorization.k8s.io/v1"

# What a federate run does in the mesh namespace after pre-flight: (verb, API group, resource).
RUN_ACCESS = tuple(
    [(verb, "", "configmaps") for verb in ("get", "list", "create", "patch", "delete")]
    + [(verb, "federation.maistra.io", plural)
       for plural in ("servicemeshpeers", "exportedservicesets", "importedservicesets")
       for verb in ("get", "list", "watch", "create", "patch", "delete")])
# ... and with managed gateways: the gateway entries of the control plane, then their Services.
GATEWAY_ACCESS = (("get", "maistra.io", "servicemeshcontrolplanes"),
                  ("list", "maistra.io", "servicemeshcontrolplanes"),
                  ("patch", "maistra.io", "servicemeshcontrolplanes"),
                  ("get", "", "services"), ("list", "", "services"), ("watch", "", "services"))


def _rule_allows(rule: dict, verb: str, group: str, resource: str) -> bool:
    def has(values, value):
        return "*" in (values or ()) or value in (values or ())
    return (not rule.get("resourceNames") and has(rule.get("verbs"), verb)
            and has(rule.get("apiGroups"), group) and has(rule.get("resources"), resource))


def denied(cluster: Cluster, namespace: str, needs: list[tuple[str, str, str]]) -> list[str]:
    """Which of `needs` ((verb, API group, resource) in `namespace`) this identity may not
    do, as "verb resource[.group]" texts: one SelfSubjectRulesReview, and a
    SelfSubjectAccessReview for each need the rules do not show when they are incomplete."""
    review = cluster.resource(REVIEWS, "SelfSubjectRulesReview")
    status = cluster.send(lambda: review.create(body={
        "apiVersion": REVIEWS, "kind": "SelfSubjectRulesReview",
        "spec": {"namespace": namespace}}).to_dict(), "create",
        (REVIEWS, "SelfSubjectRulesReview"), namespace, resource=review).get("status") or {}
    rules = status.get("resourceRules") or []
    missing = [need for need in needs
               if not any(_rule_allows(rule, *need) for rule in rules)]
    if missing and status.get("incomplete"):
        access = cluster.resource(REVIEWS, "SelfSubjectAccessReview")
        missing = [need for need in missing if not cluster.send(lambda need=need: access.create(
            body={"apiVersion": REVIEWS, "kind": "SelfSubjectAccessReview",
                  "spec": {"resourceAttributes": {"namespace": namespace, "verb": need[0],
                                                  "group": need[1],
                                                  "resource": need[2]}}}).to_dict(),
            "create", (REVIEWS, "SelfSubjectAccessReview"), namespace,
            resource=access).get("status", {}).get("allowed")]
    return [f"{verb} {resource}.{group}" if group else f"{verb} {resource}"
            for verb, group, resource in missing]


def access_problem(cluster: Cluster, namespace: str, gateways_managed: bool) -> str | None:
    """A pre-flight problem naming every verb a run needs in `namespace` and may not use, so a
    missing permission stops the run before its first write instead of in the middle."""
    needs = list(RUN_ACCESS) + (list(GATEWAY_ACCESS) if gateways_managed else [])
    missing = denied(cluster, namespace, needs)
    if not missing:
        return None
    return (f"this identity may not {', '.join(missing)} in namespace {namespace} on cluster "
            f"{cluster.name}, which the run needs (nothing was written); grant these verbs in "
            "its Role (see the least-privilege Role in the README)")
