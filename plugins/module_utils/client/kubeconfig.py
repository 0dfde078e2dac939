# Copyright: (c) 2026, servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Masking for a kubeconfig given inline, as a mapping (e.g. from a vault).

kubernetes.core marks `kubeconfig` no_log, so Ansible masks every string leaf of a mapping
wherever it appears in the module's result: "v1", context names, the namespace. Those also
appear inside unrelated values, so a mesh's root certificate came back with "********" inside
its base64 and could not be parsed, and messages named "namespace ********". Here only the
kubeconfig's credentials stay masked; the fields known to be public (names, server, CA data,
namespace) are not. The kubeconfig itself is still never echoed in the task's invocation.
"""

from __future__ import annotations

NO_LOG_PLACEHOLDER = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"

# Fields that hold no credential, per kubeconfig section. Anything not listed (tokens,
# passwords, client keys, exec / auth-provider settings, proxy URLs) stays masked.
PUBLIC_FIELDS = {
    "clusters": {"server", "certificate-authority", "certificate-authority-data",
                 "tls-server-name", "insecure-skip-tls-verify", "disable-compression"},
    "contexts": {"cluster", "user", "namespace"},
    "users": set(),
}
PUBLIC_TOP_LEVEL = {"apiVersion", "kind", "current-context"}


def leaves(value) -> set[str]:
    """Every scalar in `value`, as Ansible collects no_log values (strings of the scalars)."""
    if isinstance(value, dict):
        return set().union(*(leaves(v) for v in value.values())) if value else set()
    if isinstance(value, (list, tuple, set)):
        return set().union(*(leaves(v) for v in value)) if value else set()
    return set() if value is None else {str(value)}


def split(kubeconfig: dict) -> tuple[set[str], set[str]]:
    """The scalars of `kubeconfig` known not to be credentials, and all the others."""
    public = leaves({k: v for k, v in kubeconfig.items() if k in PUBLIC_TOP_LEVEL})
    other = leaves({k: v for k, v in kubeconfig.items()
                    if k not in PUBLIC_TOP_LEVEL and k not in PUBLIC_FIELDS})
    for section, fields in PUBLIC_FIELDS.items():
        entries = kubeconfig.get(section)
        for entry in entries if isinstance(entries, list) else [entries]:
            if not isinstance(entry, dict):
                other |= leaves(entry)
                continue
            body_key = section[:-1]  # clusters[].cluster, contexts[].context, users[].user
            body = entry.get(body_key)
            public |= leaves(entry.get("name"))
            other |= leaves({k: v for k, v in entry.items() if k not in ("name", body_key)})
            if isinstance(body, dict):
                public |= leaves({k: v for k, v in body.items() if k in fields})
                other |= leaves({k: v for k, v in body.items() if k not in fields})
            else:
                other |= leaves(body)
    return public, other


def holds_secrets(spec: dict) -> bool:
    """Whether an option is no_log or has a no_log suboption."""
    return bool(spec.get("no_log")) or any(
        holds_secrets(sub) for sub in (spec.get("options") or {}).values())


def mask_credentials_only(module) -> dict | None:
    """Stop masking the public fields of an inline kubeconfig; return the task invocation to
    report (with the kubeconfig hidden), or None when the kubeconfig is not a mapping."""
    kubeconfig = module.params.get("kubeconfig")
    if not isinstance(kubeconfig, dict):
        return None
    # A public field equal to a credential (here or in another no_log option) stays masked.
    base = getattr(module, "_module", module)  # AnsibleK8SModule wraps the AnsibleModule
    public, secrets = split(kubeconfig)
    for name, spec in base.argument_spec.items():
        if name != "kubeconfig" and holds_secrets(spec):
            secrets |= leaves(module.params.get(name))
    base.no_log_values -= public - secrets
    return {"module_args": {**module.params, "kubeconfig": NO_LOG_PLACEHOLDER}}
