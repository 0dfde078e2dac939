# Copyright (c) servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The plan's check of the federation_* group variables: the values a user set, and every
federation_* name found, so that a typo is reported under the name the user wrote. Pure Python."""

from __future__ import annotations

import difflib
from collections.abc import Mapping

from ansible_collections.servicemesh.federation.plugins.module_utils.logic.plan_values import (
    BOOL_STRINGS,
    Problems,
    yaml_hint,
)

# Group variables a user may set for all meshes (README "Variables"); the plan checks each one.
USER_VARIABLES = ("federation_links", "federation_wait_timeout", "federation_take_over",
                  "federation_gateways", "federation_unfederate_mesh", "federation_report_dir",
                  "federation_accept_root_change", "federation_root_min_days")
# The collection's roles name their variables and facts federation_<role> / federation_<role>_*
# (federation_plan_mesh, federation_wait_peers, ...), so such names are the collection's own,
# not user typos, even though some share a prefix with a user variable (federation_gateways_*).
# A role-prefixed name is still a typo when it is a near miss of a user variable
# (federation_wait_timout): no role name is as similar as TYPO_CUTOFF to one (unit tested).
ROLE_PREFIXES = ("plan", "login", "inspect", "gateways", "apply", "wait", "report")
# What the playbooks publish with set_stats: AWX hands a job's artifacts to the next workflow
# node as extra variables (verify.yml after federate.yml gets federation_matrix).
PUBLISHED_VARIABLES = ("federation_matrix",)
# difflib's similarity ratio from which a name is a typo of a user variable: one or two letters
# off (federation_link, federation_takeover), not a role's own federation_report_drift (0.91).
TYPO_CUTOFF = 0.93


def _near_user_variable(name: str) -> str | None:
    close = difflib.get_close_matches(name, USER_VARIABLES, n=1, cutoff=TYPO_CUTOFF)
    return close[0] if close else None


def unknown_variable_error(name: str) -> str | None:
    """Why the ``federation_*`` variable ``name`` is not one a user may set, or None."""
    if name in USER_VARIABLES or name in PUBLISHED_VARIABLES:
        return None
    near = _near_user_variable(name)
    role_own = any(name == f"federation_{role}" or name.startswith(f"federation_{role}_")
                   for role in ROLE_PREFIXES)
    if role_own and not near:
        return None
    hint = f"did you mean {near}? " if near else ""
    return f"unknown variable ({hint}known: {', '.join(USER_VARIABLES)})"


def check_settings(p: Problems, settings: Mapping, variables, names, outside) -> None:
    """Check the raw values of the federation_* group variables the user set (``settings``:
    name -> value; a missing or null entry means unset) and the names of all federation_*
    variables found (``variables``), so that nothing is refused later by a role's argument
    check under a name the user never wrote."""
    for name in sorted({v for v in variables or () if isinstance(v, str)}):
        err = unknown_variable_error(name)
        if err:
            p.general(name, err)
    settings = settings or {}
    for name in sorted(set(settings) - set(USER_VARIABLES), key=str):
        p.general(str(name), "not a setting the plan knows")
    timeout = settings.get("federation_wait_timeout")
    if timeout is not None:
        text = timeout.strip() if isinstance(timeout, str) else None
        whole = (text.isdigit() and int(text) >= 1) if text else (
            isinstance(timeout, int) and not isinstance(timeout, bool) and timeout >= 1)
        if not whole:
            p.general("federation_wait_timeout",
                      f"must be a whole number of seconds (1 or more), got {timeout!r}"
                      + (yaml_hint(timeout) if isinstance(timeout, bool) else ""))
    take_over = settings.get("federation_take_over")
    if take_over is not None and not (
            isinstance(take_over, bool)
            or (isinstance(take_over, str) and take_over.strip().lower() in BOOL_STRINGS)):
        p.general("federation_take_over", f"must be true or false, got {take_over!r}")
    mesh = settings.get("federation_unfederate_mesh")
    if mesh is not None:
        if not isinstance(mesh, str) or not mesh:
            p.general("federation_unfederate_mesh",
                      f"must be the name of one mesh of this run, got {mesh!r} "
                      f"(leave it unset to unfederate every mesh){yaml_hint(mesh)}")
        elif mesh not in names:
            where = " (left out of this run by --limit)" if mesh in outside else ""
            p.general("federation_unfederate_mesh",
                      f"{mesh!r} is not a mesh of this run{where} "
                      f"(known meshes: {', '.join(sorted(names))})")
    _check_root_settings(p, settings, names, outside)
    report_dir = settings.get("federation_report_dir")
    if report_dir is not None and not (isinstance(report_dir, str)
                                       and report_dir.startswith("/")):
        p.general("federation_report_dir",
                  f"must be an absolute path (the report files are written on the controller), "
                  f"got {report_dir!r}")


def _check_root_settings(p: Problems, settings: Mapping, names, outside) -> None:
    """federation_accept_root_change: true / false or a list of meshes of this run;
    federation_root_min_days: a whole number of days, 0 or more."""
    accept = settings.get("federation_accept_root_change")
    field = "federation_accept_root_change"
    if isinstance(accept, list):
        for i, mesh in enumerate(accept):
            if not isinstance(mesh, str) or not mesh:
                p.general(f"{field}[{i}]", f"must be a mesh name, got {mesh!r}")
            elif mesh not in names:
                where = " (left out of this run by --limit)" if mesh in outside else ""
                p.general(f"{field}[{i}]", f"{mesh!r} is not a mesh of this run{where} "
                                           f"(known meshes: {', '.join(sorted(names))})")
            elif mesh in accept[:i]:
                p.general(f"{field}[{i}]", f"{mesh!r} is listed twice")
    elif accept is not None and not (
            isinstance(accept, bool)
            or (isinstance(accept, str) and accept.strip().lower() in BOOL_STRINGS)):
        p.general(field, "must be true (accept the new root of every mesh), false, or a list "
                         f"of the mesh names whose new root you accept, got {accept!r} (on the "
                         "command line: -e '{\"federation_accept_root_change\": [\"<mesh>\"]}')")
    days = settings.get("federation_root_min_days")
    if days is not None:
        text = days.strip() if isinstance(days, str) else None
        whole = text.isdigit() if text else (
            isinstance(days, int) and not isinstance(days, bool) and days >= 0)
        if not whole:
            p.general("federation_root_min_days",
                      f"must be a whole number of days (0 or more), got {days!r}")
