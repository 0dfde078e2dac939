"""An inline kubeconfig mapping: its credentials stay masked, its public fields do not."""

from types import SimpleNamespace

from ansible.module_utils.common.parameters import _list_no_log_values, remove_values
from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC

from ansible_collections.servicemesh.federation.plugins.module_utils.client.kubeconfig import (
    NO_LOG_PLACEHOLDER,
    mask_credentials_only,
)

TOKEN = "sha256~q8Jc1cKx2RZyYdA0l5bP3vT7wN4mE9fG6hU1iO0pLkS"
PASSWORD = "correct horse battery staple"
# A root certificate body holding "v1", "red" and the namespace, as a base64 body can.
ROOT = "-----BEGIN CERTIFICATE-----\nMIIBv1redxred-meshAbConfig\n-----END CERTIFICATE-----\n"


def kubeconfig(**user):
    return {
        "apiVersion": "v1", "kind": "Config", "current-context": "red",
        "clusters": [{"name": "red", "cluster": {"server": "https://127.0.0.1:6443",
                                                 "certificate-authority-data": "LS0tQ0E="}}],
        "contexts": [{"name": "red", "context": {"cluster": "red", "user": "admin",
                                                 "namespace": "red-mesh"}}],
        "users": [{"name": "admin", "user": user or {"token": TOKEN}}],
    }


def module(params):
    """Shaped like AnsibleK8SModule: the AnsibleModule (with no_log_values) inside, its
    no_log values collected by Ansible's own code."""
    spec = dict(AUTH_ARG_SPEC, namespace={})
    params = {name: params.get(name) for name in spec}
    base = SimpleNamespace(argument_spec=spec, params=params,
                           no_log_values=_list_no_log_values(spec, params))
    return SimpleNamespace(params=params, _module=base)


def reported(mod, result):
    """What Ansible would print: the result with the module's no_log values removed."""
    return remove_values(result, mod._module.no_log_values)


def test_without_the_fix_ansible_corrupts_the_root_and_the_namespace():
    mod = module({"kubeconfig": kubeconfig(), "namespace": "red-mesh"})
    out = reported(mod, {"root": ROOT, "msg": "namespace red-mesh"})
    assert out["root"] != ROOT and out["msg"] == "namespace ********"


def test_public_fields_are_shown_and_the_token_is_masked():
    mod = module({"kubeconfig": kubeconfig(), "namespace": "red-mesh"})
    invocation = mask_credentials_only(mod)
    out = reported(mod, {"root": ROOT, "msg": f"namespace red-mesh, token {TOKEN}",
                         "invocation": invocation})
    assert out["root"] == ROOT
    assert out["msg"] == "namespace red-mesh, token ********"
    assert out["invocation"]["module_args"]["kubeconfig"] == NO_LOG_PLACEHOLDER


def test_every_credential_kind_stays_masked():
    user = {"password": PASSWORD, "client-key-data": "S0VZREFUQQ==",
            "exec": {"command": "get-token", "env": [{"name": "SECRET", "value": "s3cr3t-v"}]}}
    mod = module({"kubeconfig": kubeconfig(**user)})
    mask_credentials_only(mod)
    for secret in (PASSWORD, "S0VZREFUQQ==", "get-token", "s3cr3t-v"):
        assert reported(mod, {"msg": f"x {secret} y"})["msg"] == "x ******** y", secret


def test_a_public_field_equal_to_a_credential_stays_masked():
    # A context named like the password, and an api_key equal to the server URL.
    config = kubeconfig(password=PASSWORD)
    config["contexts"][0]["name"] = PASSWORD
    mod = module({"kubeconfig": config, "api_key": "https://127.0.0.1:6443"})
    mask_credentials_only(mod)
    out = reported(mod, {"msg": f"{PASSWORD} https://127.0.0.1:6443"})
    assert out["msg"] == "******** ********"


def test_a_kubeconfig_path_is_left_as_ansible_masks_it():
    mod = module({"kubeconfig": "/home/me/.kube/config"})
    before = set(mod._module.no_log_values)
    assert mask_credentials_only(mod) is None
    assert mod._module.no_log_values == before
