# Copyright (c) servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The check of a Kubernetes LabelSelector in ``mesh_exports`` (matchLabels, matchExpressions):
label keys and values as the API server accepts them, and a selector that selects something.

Pure Python (stdlib only); problems are reported through a ``report(field, reason)`` callable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ansible_collections.servicemesh.federation.plugins.module_utils.logic.plan_values import (
    is_dns_name,
)

SELECTOR_KEYS = ("matchLabels", "matchExpressions")
EXPRESSION_KEYS = ("key", "operator", "values")
OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


def _label_key_error(key) -> str | None:
    if not isinstance(key, str) or not key:
        return "label keys must be non-empty strings"
    prefix, _slash, name = key.rpartition("/")
    if prefix and not is_dns_name(prefix):
        return f"label key {key!r}: the prefix must be a DNS name"
    if len(name) > 63 or not _LABEL_NAME.match(name):
        return (f"label key {key!r} is not a valid label name (at most 63 letters, digits, "
                "'-', '_' or '.', starting and ending with a letter or digit)")
    return None


def _label_value_error(value) -> str | None:
    if not isinstance(value, str):
        return f"label value {value!r} must be a string (quote it in YAML)"
    if value and (len(value) > 63 or not _LABEL_NAME.match(value)):
        return f"label value {value!r} is not a valid label value"
    return None


def check_selector(report, field: str, selector) -> bool:
    """A Kubernetes LabelSelector that selects something; True when valid."""
    if not isinstance(selector, Mapping):
        report(field, "must be a mapping with matchLabels and/or matchExpressions")
        return False
    ok = True
    for key in sorted(set(selector) - set(SELECTOR_KEYS), key=str):
        report(f"{field}.{key}", f"unknown key (known: {', '.join(SELECTOR_KEYS)})")
        ok = False
    if not any(selector.get(key) for key in SELECTOR_KEYS):
        report(field, "needs matchLabels and/or matchExpressions (an empty selector would "
                      "export every Service of the namespace)")
        return False
    labels = selector.get("matchLabels")
    if labels is not None:
        if not isinstance(labels, Mapping):
            report(f"{field}.matchLabels", "must be a mapping of label names to values")
            ok = False
        else:
            for key in sorted(labels, key=str):
                err = _label_key_error(key) or _label_value_error(labels[key])
                if err:
                    report(f"{field}.matchLabels.{key}", err)
                    ok = False
    expressions = selector.get("matchExpressions")
    if expressions is not None:
        if not isinstance(expressions, list):
            report(f"{field}.matchExpressions", "must be a list of {key, operator, values}")
            return False
        for i, expr in enumerate(expressions):
            ok = _check_expression(report, f"{field}.matchExpressions[{i}]", expr) and ok
    return ok


def _check_expression(report, field: str, expr) -> bool:
    if not isinstance(expr, Mapping):
        report(field, "must be a mapping with key, operator and values")
        return False
    ok = True
    for key in sorted(set(expr) - set(EXPRESSION_KEYS), key=str):
        report(f"{field}.{key}", f"unknown key (known: {', '.join(EXPRESSION_KEYS)})")
        ok = False
    err = _label_key_error(expr.get("key"))
    if err:
        report(f"{field}.key", err)
        ok = False
    operator = expr.get("operator")
    if operator not in OPERATORS:
        report(f"{field}.operator", f"must be one of {', '.join(OPERATORS)}, got {operator!r}")
        return False
    values = expr.get("values")
    if operator in ("In", "NotIn"):
        if not isinstance(values, list) or not values:
            report(f"{field}.values", f"must be a non-empty list with operator {operator}")
            return False
        for j, value in enumerate(values):
            err = _label_value_error(value)
            if err:
                report(f"{field}.values[{j}]", err)
                ok = False
    elif values:
        report(f"{field}.values", f"must be empty with operator {operator}")
        ok = False
    return ok
