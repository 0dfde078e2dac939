"""The federation_plan_input filter: a thin wrapper over module_utils/logic/plan.py's plan_input."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.servicemesh.federation.plugins.filter.plan_input import FilterModule

plan_input = FilterModule().filters()["federation_plan_input"]
HOSTVARS = {
    "red": {"mesh_cluster": {"host": "https://a", "api_key": "t0ken"}, "ansible_host": "x"},
    "green": {"mesh_name": "green-mesh"},
    "outside": {"mesh_name": "not-in-this-run"},
}


def test_only_the_given_hosts_and_their_mesh_variables_masked():
    assert plan_input(["red", "green"], HOSTVARS) == {
        "red": {"mesh_cluster": {"host": "https://a", "api_key": "<hidden>"}},
        "green": {"mesh_name": "green-mesh"},
    }


@pytest.mark.parametrize("hosts, match", [
    ("red", "list of inventory hostnames"),
    (["red", "ghost"], "unknown host 'ghost'"),
])
def test_bad_input_is_a_filter_error(hosts, match):
    with pytest.raises(AnsibleFilterError, match=match):
        plan_input(hosts, HOSTVARS)
