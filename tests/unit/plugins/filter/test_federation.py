"""The federation matrix filters: thin wrappers over module_utils/status.py."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.servicemesh.federation.plugins.filter.federation import FilterModule
from ansible_collections.servicemesh.federation.plugins.module_utils.status import evaluate_peer

FILTERS = FilterModule().filters()


def status(watch, remote):
    entry = {"pod": "istiod-1", "watch": {"connected": watch},
             "remotes": [{"source": "10.0.0.1", "connected": remote}]}
    key = "active" if watch else "inactive"
    if not watch:
        entry["watch"]["lastDisconnectStatus"] = "503 Service Unavailable"
    return evaluate_peer({"status": {"discoveryStatus": {key: [entry]}}})


def test_filters_chain_into_a_table_and_a_report():
    results = {"red": {"green": status(False, True)}, "green": {"red": status(True, True)}}
    matrix = FILTERS["federation_matrix"](results)
    assert matrix["failed"] == [["red", "green"]]
    assert FILTERS["federation_matrix_text"](matrix).splitlines() == [
        "from \\ to  green  red",
        "green      -      connected",
        "red        503    -",
    ]
    report = FILTERS["federation_failures_text"](matrix)
    assert report.startswith("red -> green: 503 ")
    assert "check: egress gateway egress-green of mesh red" in report


def test_no_failures_gives_an_empty_report():
    results = {"red": {"green": status(True, True)}, "green": {"red": status(True, True)}}
    matrix = FILTERS["federation_matrix"](results)
    assert matrix["all_connected"] and FILTERS["federation_failures_text"](matrix) == ""


@pytest.mark.parametrize("name, value", [
    ("federation_matrix", ["red"]),
    ("federation_matrix", {"red": {"green": "connected"}}),
    ("federation_matrix_text", {"red": {}}),
    ("federation_failures_text", None),
    ("federation_failures", {"meshes": []}),
])
def test_bad_input_is_a_filter_error(name, value):
    with pytest.raises(AnsibleFilterError, match=name):
        FILTERS[name](value)


def test_failures_filter_rejects_results_that_are_not_a_mapping():
    results = {"red": {"green": status(False, True)}, "green": {"red": status(True, True)}}
    matrix = FILTERS["federation_matrix"](results)
    assert FILTERS["federation_failures"](matrix, results)[0]["direction"] == "red -> green"
    with pytest.raises(AnsibleFilterError, match="results must be a mapping"):
        FILTERS["federation_failures_text"](matrix, ["red"])
