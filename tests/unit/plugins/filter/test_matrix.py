"""The federation matrix filters: thin wrappers over logic/matrix.py and report_text.py."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.servicemesh.federation.plugins.filter.matrix import FilterModule
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.peer_status import (
    evaluate_peer,
)

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


RATINGS = "ratings.green-apps.svc.red-exports.local"


def test_status_services_from_the_plan_links():
    links = [{"mesh": "red", "peer": "green",
              "imports": [{"service": "ratings", "namespace": "green-apps",
                           "exported_name": RATINGS}],
              "exports": []},
             {"mesh": "red", "peer": "blue", "imports": [], "exports": []}]
    assert FILTERS["federation_status_services"](links) == {
        "green": {"imports": [RATINGS], "exports": []}}


@pytest.mark.parametrize("value", [{"peer": "green"}, ["green"],
                                   [{"imports": [{"exported_name": RATINGS}]}]])
def test_status_services_rejects_what_is_not_links(value):
    with pytest.raises(AnsibleFilterError, match="federation_status_services"):
        FILTERS["federation_status_services"](value)


def test_matrix_text_shows_the_import_count_aligned():
    red = status(True, True)
    red["services"] = {"expected": 2, "imported": 1, "imported_services": [],
                       "missing": [{"exported_name": RATINGS, "cause": "x"}],
                       "exports_expected": 0, "exported": 0, "exported_services": [],
                       "exports_missing": [], "done": False}
    matrix = FILTERS["federation_matrix"]({"red": {"green": red},
                                           "green": {"red": status(True, True)}})
    assert matrix["failed"] == [["red", "green"]]
    assert FILTERS["federation_matrix_text"](matrix).splitlines() == [
        "from \\ to  green          red",
        "green      -              connected",
        "red        connected 1/2  -",
    ]
    assert FILTERS["federation_failures_text"](matrix).startswith("red -> green: connected 1/2 ")
