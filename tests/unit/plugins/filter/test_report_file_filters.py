"""The report file filters: thin wrappers over logic/report_files.py, with clear errors."""

import json
import xml.etree.ElementTree as ET

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.servicemesh.federation.plugins.filter.report_files import FilterModule
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.matrix import (
    build_matrix,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.peer_status import (
    evaluate_peer,
)

FILTERS = FilterModule().filters()


def status(watch):
    entry = {"pod": "istiod-1", "watch": {"connected": watch},
             "remotes": [{"source": "10.0.0.1", "connected": True}]}
    if not watch:
        entry["watch"]["lastDisconnectStatus"] = "503 Service Unavailable"
    return evaluate_peer({"status": {"discoveryStatus": {
        "active" if watch else "inactive": [entry]}}})


def results():
    return {"red": {"green": status(False)}, "green": {"red": status(True)}}


def test_filters_render_the_three_files():
    matrix = build_matrix(results())
    assert json.loads(FILTERS["federation_report_json"](matrix)) == matrix
    junit = ET.fromstring(FILTERS["federation_report_junit"](matrix, results(), None, "t0"))
    assert [f.get("type") for f in junit.iter("failure")] == ["503"]
    page = FILTERS["federation_report_html"](matrix, results(), None, "t0", "Prod")
    assert "<title>Prod: federation matrix</title>" in page and "503 Service Unavailable" in page


@pytest.mark.parametrize("name", ["federation_report_json", "federation_report_junit",
                                  "federation_report_html"])
def test_filters_refuse_what_is_not_a_matrix(name):
    with pytest.raises(AnsibleFilterError, match=f"{name}: expects the output of"):
        FILTERS[name]({"red": {}})


def test_filters_name_a_bad_argument():
    matrix = build_matrix(results())
    with pytest.raises(AnsibleFilterError, match="federation_report_junit: results must be"):
        FILTERS["federation_report_junit"](matrix, ["red"])
    with pytest.raises(AnsibleFilterError, match="federation_report_html: generated must be"):
        FILTERS["federation_report_html"](matrix, None, None, 1700000000)
