# Copyright (c) servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Service sharing in the plan: validate ``mesh_exports`` / ``mesh_imports`` into rules, and
check every import against what its exporter exports (fact sheet §3); service_sets.py turns the
valid rules into each link's ExportedServiceSet and ImportedServiceSet rules.

Pure Python (stdlib only), used by plan.build_plan before any cluster is contacted. Problems
are reported through a ``report(field, reason)`` callable bound to one mesh, so that every
problem of the inventory is listed at once.
"""

from __future__ import annotations

from collections.abc import Mapping

from ansible_collections.servicemesh.federation.plugins.module_utils.logic.label_selectors import (
    check_selector,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.plan_values import (
    dns1123_label_error,
    domain_suffix_error,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.service_sets import (
    ANY,
    exported_as,
    exports_to,
)

EXPORT_KEYS = ("service", "selector", "namespace", "alias", "to")
IMPORT_KEYS = ("from", "service", "namespace", "alias", "as_local", "domain_suffix")
ALIAS_KEYS = ("name", "namespace")


def _check_alias(report, field: str, alias) -> dict | None:
    """The alias as {name?, namespace?}, or None when invalid (reported)."""
    if not isinstance(alias, Mapping) or not alias:
        report(field, "must be a mapping with name and/or namespace")
        return None
    ok = True
    for key in sorted(set(alias) - set(ALIAS_KEYS), key=str):
        report(f"{field}.{key}", f"unknown key (known: {', '.join(ALIAS_KEYS)})")
        ok = False
    for key in ALIAS_KEYS:
        if key in alias:
            err = dns1123_label_error(alias[key])
            if err:
                report(f"{field}.{key}", err)
                ok = False
    return {key: alias[key] for key in ALIAS_KEYS if key in alias} if ok else None


def _check_mesh_ref(report, field: str, value, own: str, linked, known,
                    verb: str) -> str | None:
    """A peer named in ``to`` / ``from``: the name when it is a link of this run, else None."""
    if not isinstance(value, str) or not value:
        report(field, "must be a mesh name")
    elif value == own:
        report(field, f"a mesh cannot {verb} itself")
    elif value not in known:
        report(field, f"unknown mesh {value!r} (known meshes: {', '.join(sorted(known))})")
    elif value not in linked:
        report(field, f"this mesh is not linked with {value!r} (see federation_links)")
    else:
        return value
    return None


def _unknown_keys(report, field: str, rule: Mapping, keys) -> bool:
    unknown = sorted(set(rule) - set(keys), key=str)
    for key in unknown:
        report(f"{field}.{key}", f"unknown key (known: {', '.join(keys)})")
    return not unknown


def read_exports(report, own: str, exports, linked, known, outside) -> tuple[list[dict], bool]:
    """Validate ``mesh_exports``; return (valid rules in order, whether all were valid).

    A rule is {"index", "service" or "selector", "namespace" (None: any, selectors only),
    "alias" (None or {name?, namespace?}), "to" (None: every peer, else the peers in this run)}.
    """
    if exports is None:
        return [], True
    if not isinstance(exports, list):
        report("mesh_exports", "must be a list of export rules")
        return [], False
    rules, clean = [], True
    for i, raw in enumerate(exports):
        field = f"mesh_exports[{i}]"
        if not isinstance(raw, Mapping):
            report(field, "must be a mapping (service or selector, namespace, alias, to)")
            clean = False
            continue
        rule = _read_export(report, field, i, raw, own, linked, known, outside)
        if rule is not None:
            rules.append(rule)
        clean = clean and rule is not None
    return rules, clean


def _read_export(report, field: str, i: int, raw: Mapping, own: str, linked, known,
                 outside) -> dict | None:
    """One export rule, or None when it is invalid (reported)."""
    ok = _unknown_keys(report, field, raw, EXPORT_KEYS)
    rule = {"index": i, "service": None, "selector": None, "namespace": None,
            "alias": None, "to": None}
    has_service, has_selector = "service" in raw, "selector" in raw
    if has_service == has_selector:
        report(field, "give either service (a Service name) or selector (a label "
                      "selector), " + ("not both" if has_service else "neither is given"))
        ok = False
    elif has_service:
        err = dns1123_label_error(raw["service"])
        if err:
            report(f"{field}.service", err)
            ok = False
        rule["service"] = raw["service"]
    else:
        ok = check_selector(report, f"{field}.selector", raw["selector"]) and ok
        rule["selector"] = raw["selector"]
    if has_selector and not has_service and raw.get("namespace") == ANY:
        pass  # any namespace, as when omitted
    elif raw.get("namespace") is not None:
        err = dns1123_label_error(raw["namespace"])
        if err:
            report(f"{field}.namespace", err)
            ok = False
        rule["namespace"] = raw["namespace"]
    elif has_service and not has_selector:
        report(f"{field}.namespace", "missing: the namespace of the Service")
        ok = False
    if raw.get("alias") is not None:
        rule["alias"] = _check_alias(report, f"{field}.alias", raw["alias"])
        if rule["alias"] is None:
            ok = False
        elif has_selector and not has_service and "name" in rule["alias"]:
            report(f"{field}.alias.name", "a selector export may rename only the "
                   "namespace (every matched Service would get this one name)")
            ok = False
    if raw.get("to") is not None:
        rule["to"], ok_to = _read_to(report, f"{field}.to", raw["to"], own, linked, known,
                                     outside)
        ok = ok and ok_to
    return rule if ok else None


def _read_to(report, field, to, own, linked, known, outside) -> tuple[set, bool]:
    if not isinstance(to, list) or not to:
        report(field, "must be a non-empty list of peer mesh names (omit it for every peer)")
        return set(), False
    peers, ok = set(), True
    for j, name in enumerate(to):
        if isinstance(name, str) and name in outside and name not in known:
            continue  # outside this run (--limit)
        peer = _check_mesh_ref(report, f"{field}[{j}]", name, own, linked, known, "export to")
        if peer is None:
            ok = False
        elif peer in peers:
            report(f"{field}[{j}]", f"{name!r} is listed twice")
            ok = False
        else:
            peers.add(peer)
    return peers, ok


def read_imports(report, own: str, imports, linked, known, outside) -> list[dict]:
    """Validate ``mesh_imports``; return the valid rules of this run, in order.

    A rule is {"index", "from", "service", "namespace", "alias" (None or {name?,
    namespace?}), "as_local" (bool), "domain_suffix" (None or str)}. Rules importing from a
    mesh ``outside`` this run are left out.
    """
    if imports is None:
        return []
    if not isinstance(imports, list):
        report("mesh_imports", "must be a list of import rules")
        return []
    rules = []
    for i, raw in enumerate(imports):
        field = f"mesh_imports[{i}]"
        if not isinstance(raw, Mapping):
            report(field, "must be a mapping (from, service, namespace, alias, as_local, "
                          "domain_suffix)")
            continue
        source = raw.get("from")
        if isinstance(source, str) and source in outside and source not in known:
            continue  # outside this run (--limit): skipped, like its mesh_peers entry
        rule = _read_import(report, field, i, raw, own, linked, known)
        if rule is not None:
            rules.append(rule)
    return rules


def _read_import(report, field: str, i: int, raw: Mapping, own: str, linked,
                 known) -> dict | None:
    """One import rule, or None when it is invalid (reported)."""
    ok, source = True, raw.get("from")
    if "selector" in raw:
        report(f"{field}.selector", "imports select by service name only (OSSM skips "
               "ImportedServiceSet label selectors): give service and namespace")
        ok = False
    ok = _unknown_keys(report, field, {k: v for k, v in raw.items() if k != "selector"},
                       IMPORT_KEYS) and ok
    peer = None
    if source is None:
        report(f"{field}.from", "missing: the mesh that exports the service")
        ok = False
    else:
        peer = _check_mesh_ref(report, f"{field}.from", source, own, linked, known,
                               "import from")
        ok = ok and peer is not None
    for key, what in (("service", "the Service name as exported"),
                      ("namespace", "the namespace as exported (after the exporter's "
                                    "alias)")):
        if raw.get(key) is None:
            if key != "service" or "selector" not in raw:
                report(f"{field}.{key}", f"missing: {what}")
            ok = False
        else:
            err = dns1123_label_error(raw[key])
            if err:
                report(f"{field}.{key}", err)
                ok = False
    alias = None
    if raw.get("alias") is not None:
        alias = _check_alias(report, f"{field}.alias", raw["alias"])
        ok = ok and alias is not None
    local_ok, as_local, suffix = _check_local_options(report, field, raw)
    ok = local_ok and ok
    if not ok:
        return None
    return {"index": i, "from": peer, "service": raw["service"], "namespace": raw["namespace"],
            "alias": alias, "as_local": as_local, "domain_suffix": suffix}


def _check_local_options(report, field: str, raw: Mapping) -> tuple[bool, bool, str | None]:
    """An import rule's as_local and domain_suffix: (valid, as_local, domain_suffix)."""
    ok = True
    as_local = raw.get("as_local", False)
    if as_local is None:
        as_local = False
    if not isinstance(as_local, bool):
        report(f"{field}.as_local", f"must be true or false, got {as_local!r}")
        ok = False
    elif as_local and not (isinstance(raw.get("alias"), Mapping)
                           and "namespace" in raw["alias"]):
        report(f"{field}.as_local", "needs alias.namespace: OSSM skips an importAsLocal "
               "rule without it (the local namespace to merge the service into)")
        ok = False
    suffix = raw.get("domain_suffix")
    if suffix is not None:
        err = domain_suffix_error(suffix)
        if err:
            report(f"{field}.domain_suffix", err)
            ok = False
    return ok, as_local, suffix


def check_imports(report_for, imports: dict, exports: dict, clean: dict) -> None:
    """The typo guard: every import must be something its exporter exports to the importer.

    ``imports`` / ``exports`` map mesh name -> its valid rules; ``clean`` tells whether all of
    an exporter's rules were valid (otherwise its problems are already reported, and guessing
    what it meant would only add noise). ``report_for(mesh)`` gives a mesh's report callable.
    """
    for importer in sorted(imports):
        for rule in imports[importer]:
            exporter = rule["from"]
            if exporter not in exports or not clean.get(exporter, True):
                continue
            offered = exports_to(exports[exporter], importer)
            named = {exported_as(r) for r in offered if r["service"] is not None}
            spaces = {exported_as(r)[1] or ANY for r in offered if r["selector"] is not None}
            wanted = (rule["service"], rule["namespace"])
            if wanted in named or rule["namespace"] in spaces or ANY in spaces:
                continue
            what = sorted(f"{n}.{ns}" for n, ns in named)
            what += sorted(f"Services matching a label selector in namespace {ns}"
                           for ns in spaces)
            report_for(importer)(
                f"mesh_imports[{rule['index']}]",
                f"{exporter!r} does not export {wanted[0]}.{wanted[1]} to this mesh "
                "(names are as exported, after the exporter's alias); "
                + (f"{exporter!r} exports to this mesh: {', '.join(what)}" if what
                   else f"{exporter!r} exports nothing to this mesh"))
