# Copyright (c) servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Passwords per cluster from a file (the AWX credential type "Service Mesh federation cluster
passwords" writes it and names it in FEDERATION_CLUSTER_PASSWORDS).

The file is a YAML mapping of cluster name to password. A mesh whose mesh_cluster has a username
and no password takes the password of its cluster name (``plan_clusters.cluster_name``). Read on the
controller only: by the plan (which names, never which values) and by cluster_login (the value,
straight into the OAuth request), so the password never becomes an Ansible variable. No message
here contains a password or any part of the file's text.
"""

from __future__ import annotations

from collections.abc import Mapping

try:
    import yaml
except ImportError:  # ansible-core requires PyYAML; this keeps the import error readable
    yaml = None


class PasswordsError(Exception):
    """The passwords file cannot be used; the message names the file and the reason only."""


def read_passwords(path: str) -> dict[str, str]:
    """cluster name -> password, from the YAML file at ``path``."""
    if yaml is None:
        raise PasswordsError("reading the passwords file needs PyYAML")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise PasswordsError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise PasswordsError(f"{path} is not UTF-8 text") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        # The parser's own message quotes the offending line, which may hold a password.
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise PasswordsError(f"{path} is not valid YAML{where}") from None
    if not isinstance(data, Mapping) or not data:
        raise PasswordsError(f"{path} must be a YAML mapping of cluster name to password, "
                             "e.g. 'east: s3cret'")
    passwords = {}
    for name, value in data.items():
        if not isinstance(name, str):
            raise PasswordsError(f"{path}: every key must be a cluster name (a string)")
        if not isinstance(value, str) or not value:
            # The key is a cluster name, not a secret: naming it helps; the value stays unsaid.
            raise PasswordsError(f"{path}: the password of cluster {name!r} must be a non-empty "
                                 "string (quote it in YAML)")
        passwords[name] = value
    return passwords


def password_for(path: str, cluster: str) -> str:
    """The password of ``cluster`` in the file at ``path``."""
    passwords = read_passwords(path)
    if cluster not in passwords:
        raise PasswordsError(f"{path} has no password for cluster {cluster!r} "
                             f"(clusters in it: {', '.join(sorted(passwords))})")
    return passwords[cluster]
