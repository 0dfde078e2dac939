"""The pre-flight access check (module_utils/client/access.py): which verbs a run needs that the
identity may not use, from a SelfSubjectRulesReview (and SelfSubjectAccessReviews when the rules
are incomplete), and the problem that names them."""

from ansible_collections.servicemesh.federation.plugins.module_utils.client.access import (
    access_problem,
    denied,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.client.cluster import (
    Cluster,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.client.retry import Policy

NAME = "'amber' (https://127.0.0.1:6443)"
CONFIGMAP_RULES = {"verbs": ["get", "list", "patch", "delete"], "apiGroups": [""],
                   "resources": ["configmaps"]}
FEDERATION_RULES = {"verbs": ["*"], "apiGroups": ["federation.maistra.io"], "resources": ["*"]}


class Result:
    def __init__(self, obj):
        self.obj = obj

    def to_dict(self):
        return self.obj


class Review:
    """A review resource: answers each create with the next answer, and records the bodies."""

    def __init__(self, name, *answers):
        self.name, self.group = name, "authorization.k8s.io"
        self.answers = list(answers)
        self.bodies = []

    def create(self, body):
        self.bodies.append(body)
        return Result(self.answers.pop(0))


class Client:
    def __init__(self, resources):
        self.resources = resources

    def resource(self, kind, api_version):
        assert api_version == "authorization.k8s.io/v1"
        return self.resources[kind]


def cluster(rules, access=None):
    resources = {"SelfSubjectRulesReview": rules, "SelfSubjectAccessReview": access}
    return Cluster(Client(resources), NAME, Policy(sleep=lambda _seconds: None))


def test_denied_lists_the_needs_the_rules_do_not_grant():
    rules = {"status": {"resourceRules": [
        CONFIGMAP_RULES, FEDERATION_RULES,
        {"verbs": ["create"], "apiGroups": [""], "resources": ["configmaps"],
         "resourceNames": ["only-this-one"]}]}}
    review = Review("selfsubjectrulesreviews", rules)
    c = cluster(review)
    needs = [("create", "", "configmaps"), ("patch", "", "configmaps"),
             ("create", "federation.maistra.io", "servicemeshpeers")]
    assert denied(c, "amber-system", needs) == ["create configmaps"]
    assert review.bodies == [{"apiVersion": "authorization.k8s.io/v1",
                              "kind": "SelfSubjectRulesReview",
                              "spec": {"namespace": "amber-system"}}]
    assert c.writes == 0


def test_incomplete_rules_are_completed_by_an_access_review_per_missing_need():
    rules = Review("selfsubjectrulesreviews",
                   {"status": {"incomplete": True, "resourceRules": [CONFIGMAP_RULES]}})
    access = Review("selfsubjectaccessreviews", {"status": {"allowed": True}},
                    {"status": {"allowed": False}})
    needs = [("get", "", "configmaps"), ("create", "", "configmaps"),
             ("create", "federation.maistra.io", "servicemeshpeers")]
    assert denied(cluster(rules, access), "amber-system", needs) == [
        "create servicemeshpeers.federation.maistra.io"]
    assert [b["spec"]["resourceAttributes"] for b in access.bodies] == [
        {"namespace": "amber-system", "verb": "create", "group": "", "resource": "configmaps"},
        {"namespace": "amber-system", "verb": "create", "group": "federation.maistra.io",
         "resource": "servicemeshpeers"}]


def test_access_problem_names_every_missing_verb_the_namespace_and_the_cluster():
    rules = {"status": {"resourceRules": [CONFIGMAP_RULES, FEDERATION_RULES]}}
    c = cluster(Review("selfsubjectrulesreviews", rules, rules))
    assert access_problem(c, "amber-system", gateways_managed=False) == (
        f"this identity may not create configmaps in namespace amber-system on cluster {NAME}, "
        "which the run needs (nothing was written); grant these verbs in its Role (see the "
        "least-privilege Role in the README)")
    problem = access_problem(c, "amber-system", gateways_managed=True)
    assert "may not create configmaps, get servicemeshcontrolplanes.maistra.io" in problem
    assert "patch servicemeshcontrolplanes.maistra.io" in problem and "watch services" in problem


def test_no_problem_when_every_needed_verb_is_granted():
    everything = {"status": {"resourceRules": [
        {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]}}
    c = cluster(Review("selfsubjectrulesreviews", everything))
    assert access_problem(c, "amber-system", gateways_managed=True) is None
