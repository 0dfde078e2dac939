"""Peer statuses as istiod writes them, evaluated: shared by the failure-report and report-file
unit tests."""

from ansible_collections.servicemesh.federation.plugins.module_utils.logic.peer_status import (
    evaluate_peer,
)


def peer(watch, remote, last=None):
    """One peer's evaluated status: its watch (this istiod's connection to the peer) and one
    remote (the peer's connection to us) connected or not, with the watch's last failure."""
    entry = {"pod": "istiod-1", "watch": {"connected": watch},
             "remotes": [{"source": "10.0.0.1", "connected": remote}]}
    if last:
        entry["watch"]["lastDisconnectStatus"] = last
    return evaluate_peer({"status": {"discoveryStatus": {
        "active" if watch else "inactive": [entry]}}})
