"""The Istio versions the vendored Sail operator installs (crds/ossm3/versions.yaml, unmodified).

As Sail's pkg/istioversion: aliases (``v1.30-latest``) resolve to a concrete version; versions
marked ``eol: true`` stay valid in the CRDs' enum but cannot be installed.
"""

from __future__ import annotations

from functools import cache

import yaml

from lab import LAB_ROOT

VERSIONS_FILE = LAB_ROOT / "lab/crds/ossm3/versions.yaml"


@cache
def _table() -> tuple[dict[str, str], frozenset[str]]:
    entries = yaml.safe_load(VERSIONS_FILE.read_text())["versions"]
    concrete = {e["name"]: e["name"] for e in entries if not e.get("eol") and not e.get("ref")}
    aliases = {e["name"]: e["ref"] for e in entries if not e.get("eol") and e.get("ref")}
    eol = frozenset(e["name"] for e in entries if e.get("eol"))
    return {**concrete, **{a: concrete[r] for a, r in aliases.items() if r in concrete}}, eol


def resolve(version: str, istio: str) -> str:
    """The concrete version for ``version``; ValueError with Sail's message (istio_controller.go)
    when it cannot be installed."""
    table, eol = _table()
    if version in table:
        return table[version]
    if version in eol:
        raise ValueError(f'version "{version}" is end-of-life and cannot be installed; '
                         "use a supported version")
    raise ValueError(
        f'failed to resolve Istio version for "{istio}": version "{version}" not found')
