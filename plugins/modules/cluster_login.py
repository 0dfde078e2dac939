#!/usr/bin/python
# Copyright: (c) 2026, servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: cluster_login
short_description: Log in to an OpenShift cluster with a username and password, or revoke the token
version_added: 0.1.0
author:
  - servicemesh.federation maintainers (@servicemesh)
description:
  - With O(state=present), logs in through OpenShift's OAuth server with the
    challenging-client flow (C(openshift-challenging-client), HTTP Basic credentials) and
    returns a bearer token for the other modules of this collection.
  - With O(state=absent), revokes the token given in O(api_key) by deleting its
    C(oauthaccesstokens.oauth.openshift.io) object, authenticating with the token itself.
    A token that is already revoked or expired is not an error.
  - TLS is verified unless O(validate_certs=false); O(ca_cert) names the CA that signs the
    API and OAuth servers' certificates. A relative O(ca_cert) is resolved against the
    directory the module runs in, which for the collection's playbooks (they run the modules
    on the controller) is the playbook's directory, not the directory C(ansible-playbook) was
    started in; a missing file is an error naming the resolved path. Prefer an absolute path.
  - A failed login's C(msg) says why (missing CA file, TLS verification against which CA,
    username or password rejected, OAuth server unreachable at which URL) and never holds the
    password or a token, so it can be shown even when the task itself is C(no_log).
  - Of the connection options, this module uses O(host), O(username), O(password),
    O(api_key), O(ca_cert) and O(validate_certs) (also from C(K8S_AUTH_*) variables); it
    accepts the others so that it can share C(module_defaults) with the rest of the
    C(servicemesh.federation.cluster) group.
  - The returned token is a credential. Register the result under C(no_log) and revoke the
    token in an C(always) section.
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - servicemesh.federation.cluster
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.ACTIONGROUPS
options:
  state:
    description:
      - V(present) logs in and returns a token; V(absent) revokes O(api_key).
    type: str
    choices: [present, absent]
    default: present
  oauth_host:
    description:
      - URL of the OAuth server, when its metadata is not served by the API server at
        C(<host>/.well-known/oauth-authorization-server).
    type: str
  passwords_file:
    description:
      - A YAML file mapping cluster names to passwords, used when no O(password) is given
        (neither as an option nor as C(K8S_AUTH_PASSWORD)); the password of O(cluster_name)
        is taken from it.
      - The AWX credential type C(Service Mesh federation cluster passwords) writes this file
        and sets C(FEDERATION_CLUSTER_PASSWORDS), the default of this option.
      - Read where the module runs (the controller, for this collection's playbooks), so the
        password never becomes an Ansible variable; it is masked in any output of the module.
    type: path
    version_added: 0.2.0
  cluster_name:
    description:
      - The key of this cluster in O(passwords_file). The collection's login role passes
        C(mesh_cluster.name), else C(mesh_cluster.context), else C(mesh_cluster.host).
      - Required when the password comes from O(passwords_file).
    type: str
    version_added: 0.2.0
attributes:
  check_mode:
    support: partial
    details:
      - Logging in and revoking are session actions, not configuration changes, and both
        happen in check mode too, so that a check-mode run can read the clusters and still
        leaves no token behind.
  diff_mode:
    support: none
notes:
  - The token is returned in RV(api_key); never print it. Ansible masks O(password) and
    O(api_key), not values derived from them.
  - Logging out reports C(changed) when a token was revoked; use C(changed_when) in a
    cleanup task if your idempotence check must not count it.
seealso:
  - module: servicemesh.federation.mesh_info
requirements:
  - requests
"""

EXAMPLES = r"""
- name: Log in, federate, always log out
  block:
    - name: Log in to the cluster of mesh red-mesh
      servicemesh.federation.cluster_login:
        host: https://api.red.example.com:6443
        username: federation-admin
        password: "{{ vault_red_password }}"
        ca_cert: /etc/pki/red-ca.crt
      register: red_login
      no_log: true

    - name: Read the mesh's facts with the token
      servicemesh.federation.mesh_info:
        host: https://api.red.example.com:6443
        api_key: "{{ red_login.api_key }}"
        ca_cert: /etc/pki/red-ca.crt
        namespace: red-mesh-system
  always:
    - name: Revoke the token
      servicemesh.federation.cluster_login:
        state: absent
        host: https://api.red.example.com:6443
        api_key: "{{ red_login.api_key }}"
        ca_cert: /etc/pki/red-ca.crt
      when: red_login.api_key is defined
      no_log: true
"""

RETURN = r"""
api_key:
  description: The bearer token (C(sha256~...)). A credential; do not print it.
  returned: when O(state=present)
  type: str
host:
  description: The API server URL the token is for, as given.
  returned: always
  type: str
  sample: https://api.red.example.com:6443
"""

# Before kubernetes.core: the kubernetes client is then imported lazily (faster start).
# pylint: disable-next=unused-import
from ansible_collections.servicemesh.federation.plugins.module_utils.client import (  # noqa: E402,F401,I001 isort:skip
    lazy_imports,
)
from ansible.module_utils.basic import env_fallback, missing_required_lib  # noqa: E402
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import (  # noqa: E402
    AnsibleK8SModule,
)

from ansible_collections.servicemesh.federation.plugins.module_utils.client.oauth import (  # noqa: E402
    HAS_REQUESTS,
    OAuthError,
    login_or_revoke,
    session_params,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.client.passwords import (  # noqa: E402,E501
    PasswordsError,
    password_for,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.common import (  # noqa: E402
    argspec,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.naming import (  # noqa: E402,E501
    PASSWORDS_ENV,
)


def file_password(module):
    """The password of cluster_name from passwords_file (None without a file)."""
    path = module.params["passwords_file"]
    if not path:
        return None
    if not module.params["cluster_name"]:
        raise PasswordsError("cluster_name is required to take the password from "
                             f"passwords_file ({path})")
    password = password_for(path, module.params["cluster_name"])
    # Masked in any output of this module, as the password option would be (AnsibleK8SModule
    # wraps the AnsibleModule that keeps the list).
    getattr(module, "_module", module).no_log_values.add(password)
    return password


def module_options() -> dict:
    """The argument spec and options: AnsibleK8SModule's here, the in-process run's in
    plugins/action/cluster_login.py."""
    return dict(
        argument_spec=argspec(
            state=dict(type="str", choices=["present", "absent"], default="present"),
            oauth_host=dict(type="str"),
            passwords_file=dict(type="path", fallback=(env_fallback, [PASSWORDS_ENV])),
            cluster_name=dict(type="str"),
        ),
        supports_check_mode=True,
        check_k8s=False,
    )


def execute(module) -> None:
    """The module's work; ends with module.exit_json or module.fail_json."""
    if not HAS_REQUESTS:
        module.fail_json(msg=missing_required_lib("requests"))
    params = session_params(module)
    try:
        if module.params["state"] == "present" and not params["password"]:
            params["password"] = file_password(module)
        result = login_or_revoke(params, module.params["state"])
    except (OAuthError, PasswordsError) as exc:
        module.fail_json(msg=str(exc))
    except Exception as exc:  # pylint: disable=broad-exception-caught
        # A crash's traceback is hidden under the login task's no_log: keep its reason. The
        # password is masked in fail_json (a no_log value); no token exists on this path.
        module.fail_json(msg="OAuth {} at {} failed unexpectedly: {}: {}".format(
            "login" if module.params["state"] == "present" else "logout",
            params["host"], type(exc).__name__, exc))
    module.exit_json(**result)


def main():
    execute(AnsibleK8SModule(**module_options()))


if __name__ == "__main__":
    main()
