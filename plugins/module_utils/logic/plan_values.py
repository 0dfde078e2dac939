# Copyright (c) servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The plan's checks of single values (names, DNS names, trust domains, addresses, ports) and
its problem collector, shared by the plan's parts (plan.py, plan_settings.py, plan_clusters.py,
plan_overrides.py, sharing.py) and the inventory plugin. Pure Python (stdlib only); messages
never contain credential values."""

from __future__ import annotations

import ipaddress
import re

from ansible_collections.servicemesh.federation.plugins.module_utils.logic.naming import (
    LOCAL_DOMAIN_SUFFIX,
    RESERVED_GATEWAYS,
)

# Strings Ansible reads as booleans, as `-e federation_take_over=true` passes them.
BOOL_STRINGS = ("true", "false", "yes", "no", "on", "off")
LABEL_RULE = "lowercase letters, digits and '-', starting and ending with a letter or digit"
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_HOSTNAME_LABEL = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?$")
# SPIFFE trust domain characters: lowercase letters, digits, '.', '-', '_'.
_TRUST_DOMAIN = re.compile(r"^[a-z0-9._-]+$")


def dns1123_label_error(value) -> str | None:
    """Why ``value`` is not a DNS-1123 label (Kubernetes object / namespace name), or None."""
    if not isinstance(value, str) or not value:
        return "must be a non-empty string"
    if len(value) > 63:
        return f"{value!r} is longer than 63 characters"
    if not _DNS1123_LABEL.match(value):
        return f"{value!r} is not a DNS-1123 label ({LABEL_RULE})"
    return None


def is_dns_name(value: str) -> bool:
    """Whether ``value`` is a DNS name: dot-separated DNS-1123 labels, at most 253 characters."""
    return len(value) <= 253 and all(_DNS1123_LABEL.match(label) for label in value.split("."))


def domain_suffix_error(value) -> str | None:
    if not isinstance(value, str) or not value:
        return "must be a non-empty string"
    if value.strip(".") == LOCAL_DOMAIN_SUFFIX:
        return (f"{value!r} is the mesh's own domain, which OSSM refuses: use as_local: true "
                "with alias.namespace to merge an import with local services")
    if not is_dns_name(value):
        return f"{value!r} is not a DNS name (dot-separated labels of {LABEL_RULE})"
    return None


def gateway_name_error(value) -> str | None:
    """Why ``value`` cannot name a gateway (its Service name is a DNS-1035 label), or None."""
    if not isinstance(value, str) or not value:
        return "must be a non-empty string"
    if len(value) > 63:
        return f"{value!r} is longer than 63 characters"
    if not _DNS1035_LABEL.match(value):
        return (f"{value!r} is not a valid Service name (DNS-1035 label: lowercase letters, digits "
                "and '-', starting with a letter, ending with a letter or digit)")
    if value in RESERVED_GATEWAYS:
        return f"{value!r} is reserved by the Service Mesh operator"
    return None


def trust_domain_error(value) -> str | None:
    if not isinstance(value, str) or not value:
        return "must be a non-empty string"
    if "://" in value:
        return (f"{value!r} must not include a scheme: peers build client IDs "
                "<trust domain>/ns/<namespace>/sa/<account> without 'spiffe://'")
    if "/" in value:
        return f"{value!r} must not contain '/'"
    if not _TRUST_DOMAIN.match(value):
        return f"{value!r} may contain only lowercase letters, digits, '.', '-' and '_'"
    return None


def address_error(value) -> str | None:
    """Why ``value`` is not a hostname or IPv4 address without a port, or None."""
    if not isinstance(value, str) or not value:
        return "must be a non-empty string"
    if "://" in value:
        return f"{value!r} must be a hostname or IP address, not a URL"
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        pass
    else:
        if ip.version == 6:
            return f"{value!r}: IPv6 is not supported by Service Mesh 2.x federation"
        return None
    if value.count(":") == 1 or value.startswith("["):
        return (f"{value!r} must not include a port "
                "(set discovery_port / service_port instead)")
    name = value[:-1] if value.endswith(".") else value
    if len(name) > 253 or not all(_HOSTNAME_LABEL.match(p) and len(p) <= 63
                                  for p in name.split(".")):
        return f"{value!r} is not a valid hostname or IPv4 address"
    return None


def yaml_hint(value) -> str:
    """Why a value is not the string the user meant, when YAML read it as something else."""
    values = value if isinstance(value, (list, tuple)) else [value]
    if any(isinstance(v, bool) for v in values):
        return (" (YAML reads unquoted yes/no/on/off/true/false as a boolean: quote the "
                "value)")
    if any(isinstance(v, (int, float)) for v in values):
        return " (YAML read it as a number: quote the value)"
    return ""


def not_a_string(value) -> str | None:
    """The reason for a non-string where a name is expected (None for a string)."""
    if isinstance(value, str):
        return None
    return f"must be a string, got {value!r}{yaml_hint(value)}"


def port_error(value) -> str | None:
    # bool is an int subclass; `true` is never a port.
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        return f"must be an integer from 1 to 65535, got {value!r}"
    return None


class Problems:
    """Collects problem messages, each naming the mesh (and inventory host), field and reason."""

    def __init__(self):
        self.items: list[str] = []

    def mesh(self, mesh: dict, field: str, reason: str) -> None:
        where = f"mesh {mesh['name']!r}"
        if mesh["host"] != mesh["name"] or mesh.get("_duplicate"):
            where += f" (inventory host {mesh['host']!r})"
        self.items.append(f"{where}: {field}: {reason}")

    def general(self, field: str, reason: str) -> None:
        self.items.append(f"{field}: {reason}")
