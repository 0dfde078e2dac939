# Copyright: (c) 2026, servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""OpenShift OAuth login (challenging-client flow) and token revocation.

Login: read the OAuth server metadata, then GET its authorize endpoint with
response_type=token for the built-in client "openshift-challenging-client", sending the
username and password as HTTP Basic credentials plus the X-CSRF-Token header the server
requires for challenges. The server answers 302 with the access token in the Location
fragment; the redirect is not followed (its target is a page meant for browsers).

Revocation: the API object oauthaccesstokens/<name> is named "sha256~" + unpadded base64url
of the SHA-256 of the token body (the token without its "sha256~" prefix); a user may delete
their own token by authenticating with it.

No function here ever puts a password or token in an exception message.
"""

from __future__ import annotations

import base64
import hashlib
import os
from urllib.parse import parse_qs, urlencode, urlsplit

try:
    import requests
except ImportError:  # reported by the module through missing_required_lib
    requests = None

HAS_REQUESTS = requests is not None

CHALLENGING_CLIENT = "openshift-challenging-client"
TOKEN_PREFIX = "sha256~"
TIMEOUT = 30  # seconds per request


class OAuthError(Exception):
    """Login or revocation failed; the message names the server and the reason."""


def tls_verify(validate_certs: bool | None, ca_cert: str | None):
    """The `verify` argument for requests: TLS is verified unless validate_certs is false."""
    if validate_certs is False:
        return False
    return ca_cert or True


def check_ca_cert(verify) -> None:
    """Refuse a ca_cert that is not a file, before requests fails on it with an OSError.

    A relative path is resolved against the module's working directory, which for modules run
    on the controller (connection local) is the playbook's directory."""
    if not isinstance(verify, str) or os.path.isfile(verify):
        return
    where = "" if os.path.isabs(verify) else (
        f" (a relative path is resolved against the directory the module runs in, the "
        f"playbook's directory {os.getcwd()}, giving {os.path.abspath(verify)})")
    raise OAuthError(f"ca_cert {verify}: no such file{where}; give the CA file's absolute path")


def token_object_name(token: str) -> str:
    """Name of the oauthaccesstokens object that holds `token`."""
    body = token[len(TOKEN_PREFIX):] if token.startswith(TOKEN_PREFIX) else token
    digest = hashlib.sha256(body.encode("utf-8")).digest()
    return TOKEN_PREFIX + base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def token_from_location(location: str) -> str:
    """The access_token in the fragment of the authorize redirect."""
    fragment = parse_qs(urlsplit(location).fragment)
    if "error" in fragment:
        # error / error_description are the server's words (RFC 6749 4.2.2.1), not secrets
        detail = fragment.get("error_description", fragment["error"])[0]
        raise OAuthError(f"the OAuth server refused the login: {detail}")
    tokens = fragment.get("access_token")
    if not tokens:
        raise OAuthError("the OAuth server's redirect carries no access token")
    return tokens[0]


def _request(session, method: str, url: str, what: str, **kwargs):
    verify = kwargs.get("verify")
    check_ca_cert(verify)
    try:
        return session.request(method, url, timeout=TIMEOUT, **kwargs)
    except requests.exceptions.SSLError as exc:
        against = (f"against the CA in ca_cert {verify} (is it the CA that signs {url}?)"
                   if isinstance(verify, str) else
                   "against the system's CAs (set ca_cert to the CA that signs it)")
        raise OAuthError(f"{what}: TLS verification of {url} failed {against}: {exc}") from exc
    except requests.exceptions.RequestException as exc:
        raise OAuthError(f"{what}: the server is unreachable at {url}: {exc}") from exc
    except OSError as exc:  # e.g. requests' "invalid path" for a CA bundle it cannot read
        raise OAuthError(f"{what}: cannot use ca_cert {verify} for {url}: {exc}") from exc


def discover(session, server: str, verify) -> dict:
    """OAuth server metadata from `<server>/.well-known/oauth-authorization-server`."""
    url = server.rstrip("/") + "/.well-known/oauth-authorization-server"
    response = _request(session, "GET", url, "OAuth discovery", verify=verify)
    if response.status_code != 200:
        raise OAuthError(
            f"OAuth discovery: {url} answered {response.status_code} {response.reason} (set "
            "oauth_host when the OAuth server's metadata is not served by the API server)")
    try:
        metadata = response.json()
        metadata["authorization_endpoint"]
    except (ValueError, KeyError, TypeError) as exc:
        raise OAuthError(f"OAuth discovery: {url} is not OAuth server metadata") from exc
    return metadata


def login(host: str, username: str, password: str, verify, oauth_host: str | None = None,
          session=None) -> str:
    """Log in with username and password; return the access token."""
    session = session or requests.Session()
    metadata = discover(session, oauth_host or host, verify)
    endpoint = metadata["authorization_endpoint"]
    query = urlencode({"response_type": "token", "client_id": CHALLENGING_CLIENT})
    response = _request(
        session, "GET", endpoint + "?" + query, "OAuth login",
        auth=(username, password),
        headers={"X-CSRF-Token": "1"},
        verify=verify,
        allow_redirects=False,
    )
    if response.status_code == 401:
        raise OAuthError(f"OAuth login at {endpoint}: the password of user {username} was "
                         "rejected (401 Unauthorized): check the username and password")
    location = response.headers.get("Location", "")
    if response.status_code != 302 or not location:
        raise OAuthError(f"OAuth login at {endpoint}: expected a 302 redirect, got "
                         f"{response.status_code} {response.reason}")
    return token_from_location(location)


def revoke(host: str, token: str, verify, session=None) -> bool:
    """Revoke `token`; False when it was already gone (deleted, expired or unknown)."""
    session = session or requests.Session()
    url = "{}/apis/oauth.openshift.io/v1/oauthaccesstokens/{}".format(
        host.rstrip("/"), token_object_name(token))
    response = _request(
        session, "DELETE", url, "token revocation",
        headers={"Authorization": "Bearer " + token, "Accept": "application/json"},
        json={"kind": "DeleteOptions", "apiVersion": "v1"},
        verify=verify,
    )
    if response.status_code in (200, 202):
        return True
    # 401: the API server no longer accepts the token, i.e. it is already revoked or expired.
    if response.status_code in (401, 404):
        return False
    raise OAuthError(
        f"token revocation at {host}: {response.status_code} {_status_message(response)}")


def _status_message(response) -> str:
    try:
        return response.json().get("message") or response.reason
    except ValueError:
        return response.reason


def _auth_option(params: dict, name: str):
    """One connection setting as kubernetes.core's client resolves it (k8s/client.py): the task
    option (AUTH_ARG_MAP: the client's name -> the option's), else K8S_AUTH_<OPTION> or
    K8S_AUTH_<NAME>; a boolean from the environment is false for 0 / false / no."""
    from ansible_collections.kubernetes.core.plugins.module_utils.args_common import (
        AUTH_ARG_MAP,
        AUTH_ARG_SPEC,
    )

    option = AUTH_ARG_MAP[name]
    if params.get(option) is not None:
        return params[option]
    value = (os.environ.get(f"K8S_AUTH_{option.upper()}")
             or os.environ.get(f"K8S_AUTH_{name.upper()}"))
    if value is not None and AUTH_ARG_SPEC[option].get("type") == "bool":
        return value.lower() not in ("0", "false", "no")
    return value


def session_params(module) -> dict:
    """Host, credentials and TLS settings from the task options or the K8S_AUTH_* variables,
    resolved as kubernetes.core resolves them for its own modules (through its public
    argument map: its client's private _create_auth_spec is not an interface)."""
    def auth(name):
        return _auth_option(module.params, name)

    return {
        "host": (auth("host") or "").rstrip("/"),
        "username": auth("username"),
        "password": auth("password"),
        "api_key": auth("api_key"),
        "verify": tls_verify(auth("verify_ssl"), auth("ssl_ca_cert")),
        "oauth_host": module.params.get("oauth_host"),
    }


def login_or_revoke(params: dict, state: str) -> dict:
    """Log in (state present) or revoke (state absent); the module's result."""
    needed = ["host"] + (["username", "password"] if state == "present" else ["api_key"])
    missing = [name for name in needed if not params.get(name)]
    if missing:
        raise OAuthError("state={} needs {} (as options or K8S_AUTH_* variables)".format(
            state, ", ".join(missing)))
    host = params["host"]
    if state == "present":
        token = login(host, params["username"], params["password"], params["verify"],
                      oauth_host=params.get("oauth_host"))
        # A session credential, not a configuration change: re-runs stay "ok".
        return {"changed": False, "host": host, "api_key": token}
    return {"changed": revoke(host, params["api_key"], params["verify"]), "host": host}
