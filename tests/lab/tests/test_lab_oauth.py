"""OpenShift-style login on the shared lab: challenging-client flow, token use, revocation."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
import urllib.parse

import pytest
import requests

from lab.oauth_server import token_object_name

CLIENT = "openshift-challenging-client"


@pytest.fixture
def red(lab):
    cluster = lab.state["clusters"]["red-mesh"]
    return {"issuer": cluster["oauth_issuer"], "server": cluster["server"],
            "ca": str(lab.dir / "pki" / "ca.crt"), "passwords": lab.credentials("red-mesh")}


def authorize(red, user=None, password=None, response_type="token", **params):
    headers = {"X-CSRF-Token": "1"}
    auth = (user, password) if user is not None else None
    query = {"response_type": response_type, "client_id": CLIENT, **params}
    return requests.get(f"{red['issuer']}/oauth/authorize", params=query, headers=headers,
                        auth=auth, verify=red["ca"], allow_redirects=False, timeout=10)


def login(red, user="federation-automation") -> str:
    resp = authorize(red, user, red["passwords"][user])
    assert resp.status_code == 302, resp.text
    location = urllib.parse.urlsplit(resp.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == (
        f"{red['issuer']}/oauth/token/implicit")
    fragment = dict(urllib.parse.parse_qsl(location.fragment))
    assert (fragment["token_type"], fragment["expires_in"]) == ("Bearer", "86400")
    return fragment["access_token"]


def whoami(red, token: str) -> requests.Response:
    return requests.post(
        f"{red['server']}/apis/authentication.k8s.io/v1/selfsubjectreviews",
        json={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
        headers={"Authorization": f"Bearer {token}"}, verify=red["ca"], timeout=10)


def token_url(red, token: str) -> str:
    path = "/apis/oauth.openshift.io/v1/oauthaccesstokens/"
    return f"{red['server']}{path}{token_object_name(token)}"


def test_metadata_names_the_endpoints(red):
    meta = requests.get(f"{red['issuer']}/.well-known/oauth-authorization-server",
                        verify=red["ca"], timeout=10).json()
    assert meta["issuer"] == red["issuer"]
    assert meta["authorization_endpoint"] == f"{red['issuer']}/oauth/authorize"
    assert meta["token_endpoint"] == f"{red['issuer']}/oauth/token"


def test_login_yields_a_token_the_apiserver_accepts(red):
    token = login(red)
    assert token.startswith("sha256~")
    resp = whoami(red, token)
    assert resp.status_code == 201, resp.text
    user = resp.json()["status"]["userInfo"]
    assert user["username"] == "federation-automation"
    assert "system:masters" not in user["groups"]


def test_admin_login_is_cluster_admin(red, lab):
    token = login(red, "lab-admin")
    resp = requests.get(f"{red['server']}/api/v1/namespaces/kube-system/secrets",
                        headers={"Authorization": f"Bearer {token}"}, verify=red["ca"], timeout=10)
    assert resp.status_code == 200


@pytest.mark.parametrize("credentials", ["none", "wrong password", "unknown user"])
def test_bad_credentials_are_challenged(red, credentials):
    if credentials == "none":
        resp = authorize(red)
    elif credentials == "wrong password":
        resp = authorize(red, "federation-automation", "not-the-password")
    else:
        resp = authorize(red, "mallory", red["passwords"]["federation-automation"])
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"] == 'Basic realm="openshift"'
    assert "Location" not in resp.headers


def test_a_token_from_another_cluster_is_refused(red, lab):
    green = {**red, "issuer": lab.state["clusters"]["green-mesh"]["oauth_issuer"],
             "passwords": lab.credentials("green-mesh")}
    assert whoami(red, login(green)).status_code == 401


def test_code_flow_with_pkce_yields_a_token(red):
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    resp = authorize(red, "federation-automation", red["passwords"]["federation-automation"],
                     response_type="code", code_challenge=challenge.decode(),
                     code_challenge_method="S256", state="xyz")
    assert resp.status_code == 302
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(resp.headers["Location"]).query))
    assert query["state"] == "xyz"
    form = {"grant_type": "authorization_code", "code": query["code"], "code_verifier": verifier}
    token = requests.post(f"{red['issuer']}/oauth/token", data=form, auth=(CLIENT, ""),
                          verify=red["ca"], timeout=10).json()["access_token"]
    assert whoami(red, token).status_code == 201
    # A code is good for one exchange only.
    again = requests.post(f"{red['issuer']}/oauth/token", data=form, verify=red["ca"], timeout=10)
    assert again.status_code == 400


def test_logout_revokes_the_token(red):
    token = login(red)
    headers = {"Authorization": f"Bearer {token}"}
    assert whoami(red, token).status_code == 201
    # The token's holder may delete its object (logout) but not read or list token objects.
    assert requests.get(token_url(red, token), headers=headers, verify=red["ca"],
                        timeout=10).status_code == 403
    resp = requests.delete(token_url(red, token), headers=headers, verify=red["ca"], timeout=10)
    assert resp.status_code == 200, resp.text
    # The apiserver caches successful authentications for 10 s (not configurable).
    deadline = time.monotonic() + 15
    while whoami(red, token).status_code != 401:
        assert time.monotonic() < deadline, "revoked token still accepted after 15 s"
        time.sleep(0.5)


def test_admin_sees_token_objects_named_as_openshift_does(red, lab):
    token = login(red)
    tokens = lab.client("red-mesh").resources.get(api_version="oauth.openshift.io/v1",
                                                  kind="OAuthAccessToken")
    obj = tokens.get(name=token_object_name(token)).to_dict()
    assert obj["userName"] == "federation-automation"
    assert obj["clientName"] == CLIENT and obj["expiresIn"] == 86400
    assert token not in str(obj)  # only the hash is stored
    tokens.delete(name=token_object_name(token))
