"""OpenShift OAuth login / revocation (client/oauth.py) with a recorded HTTP session."""

import pytest
import requests

from ansible_collections.servicemesh.federation.plugins.module_utils.client.oauth import (
    OAuthError,
    login,
    login_or_revoke,
    revoke,
    session_params,
    tls_verify,
    token_from_location,
    token_object_name,
)

API = "https://api.red.example:6443"
OAUTH = "https://oauth.red.example"
PASSWORD = "s3cret-Passw0rd"
TOKEN = "sha256~Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWpr"
METADATA = {"issuer": OAUTH, "authorization_endpoint": OAUTH + "/oauth/authorize",
            "token_endpoint": OAUTH + "/oauth/token"}


class Response:
    def __init__(self, status_code, json_body=None, headers=None, reason=""):
        self.status_code = status_code
        self._json = json_body
        self.headers = headers or {}
        self.reason = reason

    def json(self):
        if self._json is None:
            raise ValueError("not JSON")
        return self._json


class Session:
    """Answers requests from a {(method, url without query): Response or exception} table."""

    def __init__(self, answers):
        self.answers = answers
        self.sent = []

    def request(self, method, url, **kwargs):
        self.sent.append((method, url, kwargs))
        answer = self.answers[(method, url.split("?")[0])]
        if isinstance(answer, Exception):
            raise answer
        return answer


def redirect(fragment):
    return Response(302, headers={"Location": OAUTH + "/oauth/token/implicit#" + fragment},
                    reason="Found")


def login_session(authorize_response):
    return Session({
        ("GET", API + "/.well-known/oauth-authorization-server"): Response(200, METADATA),
        ("GET", OAUTH + "/oauth/authorize"): authorize_response,
    })


def test_token_object_name_is_sha256_of_the_token_body():
    # OpenShift names the object sha256~ + base64url(sha256(body)) without padding
    name = token_object_name(TOKEN)
    assert name == "sha256~x2y3tFN62oFGEjF_H4p3oEmec6Mq1SfO3i7eDS3jqic"
    assert token_object_name(TOKEN.removeprefix("sha256~")) == name
    assert "=" not in name and "+" not in name and "/" not in name


@pytest.fixture
def ca_cert(tmp_path):
    path = tmp_path / "ca.crt"
    path.write_text("a CA")
    return str(path)


def test_login_runs_the_challenging_client_flow(ca_cert):
    session = login_session(redirect(f"access_token={TOKEN}&expires_in=86400&token_type=Bearer"))
    assert login(API, "alice", PASSWORD, ca_cert, session=session) == TOKEN
    (_get, _url, discovery), (method, url, authorize) = session.sent
    assert discovery["verify"] == ca_cert
    assert method == "GET"
    assert "response_type=token" in url and "client_id=openshift-challenging-client" in url
    assert authorize["auth"] == ("alice", PASSWORD)
    assert authorize["headers"]["X-CSRF-Token"]
    assert authorize["allow_redirects"] is False
    assert authorize["verify"] == ca_cert


def test_oauth_host_metadata_is_used_when_given():
    session = Session({
        ("GET", OAUTH + "/.well-known/oauth-authorization-server"): Response(200, METADATA),
        ("GET", OAUTH + "/oauth/authorize"): redirect(f"access_token={TOKEN}"),
    })
    assert login(API, "alice", PASSWORD, True, oauth_host=OAUTH, session=session) == TOKEN


def test_wrong_password_is_a_clear_error_without_the_password():
    session = login_session(Response(401, reason="Unauthorized"))
    with pytest.raises(OAuthError) as failure:
        login(API, "alice", PASSWORD, True, session=session)
    assert "password of user alice was rejected (401 Unauthorized)" in str(failure.value)
    assert PASSWORD not in str(failure.value)


def test_unexpected_answer_does_not_echo_the_location():
    session = login_session(Response(200, reason="OK"))
    with pytest.raises(OAuthError, match="expected a 302 redirect, got 200"):
        login(API, "alice", PASSWORD, True, session=session)


def test_refusal_in_the_redirect_is_reported():
    with pytest.raises(OAuthError, match="access_denied|user denied"):
        token_from_location(OAUTH + "/implicit#error=access_denied&error_description=user+denied")
    with pytest.raises(OAuthError, match="no access token"):
        token_from_location(OAUTH + "/implicit#expires_in=1")


def test_missing_metadata_names_the_url():
    session = Session({("GET", API + "/.well-known/oauth-authorization-server"):
                       Response(404, reason="Not Found")})
    with pytest.raises(OAuthError, match="well-known/oauth-authorization-server answered 404"):
        login(API, "alice", PASSWORD, True, session=session)


def test_missing_relative_ca_cert_names_the_resolved_path_before_any_request(
        tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    session = login_session(redirect(f"access_token={TOKEN}"))
    with pytest.raises(OAuthError) as failure:
        login(API, "alice", PASSWORD, ".lab/pki/ca.crt", session=session)
    message = str(failure.value)
    assert "ca_cert .lab/pki/ca.crt: no such file" in message
    assert f"the playbook's directory {tmp_path}" in message
    assert str(tmp_path / ".lab/pki/ca.crt") in message
    assert "absolute path" in message
    assert session.sent == [] and PASSWORD not in message


def test_relative_ca_cert_is_resolved_against_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "ca.crt").write_text("a CA")
    monkeypatch.chdir(tmp_path)
    session = login_session(redirect(f"access_token={TOKEN}"))
    assert login(API, "alice", PASSWORD, "ca.crt", session=session) == TOKEN


def test_missing_absolute_ca_cert_is_named(tmp_path):
    with pytest.raises(OAuthError, match=f"ca_cert {tmp_path}/ca.crt: no such file; give"):
        revoke(API, TOKEN, str(tmp_path / "ca.crt"), session=revoke_session(Response(200)))


def test_unreadable_ca_bundle_is_an_error_not_a_crash():
    # requests raises a bare OSError ("invalid path") for a CA bundle it cannot use
    session = Session({("GET", API + "/.well-known/oauth-authorization-server"):
                       OSError("Could not find a suitable TLS CA certificate bundle")})
    with pytest.raises(OAuthError, match="cannot use ca_cert True for .*well-known"):
        login(API, "alice", PASSWORD, True, session=session)


def test_tls_failure_names_the_ca_file(tmp_path):
    ca_cert = tmp_path / "ca.crt"
    ca_cert.write_text("another CA")
    session = Session({("GET", API + "/.well-known/oauth-authorization-server"):
                       requests.exceptions.SSLError("certificate verify failed")})
    with pytest.raises(OAuthError, match=f"TLS verification .* failed against the CA in ca_cert "
                                         f"{ca_cert}"):
        login(API, "alice", PASSWORD, str(ca_cert), session=session)


def test_unreachable_oauth_server_names_the_url():
    session = Session({
        ("GET", API + "/.well-known/oauth-authorization-server"): Response(200, METADATA),
        ("GET", OAUTH + "/oauth/authorize"): requests.exceptions.ConnectionError("refused")})
    with pytest.raises(OAuthError) as failure:
        login(API, "alice", PASSWORD, True, session=session)
    assert f"unreachable at {OAUTH}/oauth/authorize" in str(failure.value)
    assert PASSWORD not in str(failure.value)


def test_tls_failure_points_at_ca_cert():
    session = Session({("GET", API + "/.well-known/oauth-authorization-server"):
                       requests.exceptions.SSLError("certificate verify failed")})
    with pytest.raises(OAuthError,
                       match="TLS verification .* failed against the system.s CAs .*ca_cert"):
        login(API, "alice", PASSWORD, True, session=session)


@pytest.mark.parametrize("validate_certs, ca_cert, expected", [
    (None, None, True), (True, None, True), (None, "/ca.crt", "/ca.crt"),
    (True, "/ca.crt", "/ca.crt"), (False, "/ca.crt", False), (False, None, False)])
def test_tls_is_verified_unless_switched_off(validate_certs, ca_cert, expected):
    assert tls_verify(validate_certs, ca_cert) == expected


def revoke_session(response):
    url = API + "/apis/oauth.openshift.io/v1/oauthaccesstokens/" + token_object_name(TOKEN)
    return Session({("DELETE", url): response})


def test_revoke_deletes_the_token_object_with_the_token(ca_cert):
    session = revoke_session(Response(200, {"kind": "Status"}))
    assert revoke(API, TOKEN, ca_cert, session=session) is True
    ((_delete, _url, sent),) = session.sent
    assert sent["headers"]["Authorization"] == "Bearer " + TOKEN
    assert sent["verify"] == ca_cert


@pytest.mark.parametrize("status", [401, 404])
def test_revoking_a_gone_token_is_not_a_change(status):
    assert revoke(API, TOKEN, True, session=revoke_session(Response(status))) is False


def test_revocation_error_does_not_echo_the_token():
    session = revoke_session(Response(403, {"message": "forbidden"}, reason="Forbidden"))
    with pytest.raises(OAuthError) as failure:
        revoke(API, TOKEN, True, session=session)
    assert "403 forbidden" in str(failure.value)
    assert TOKEN not in str(failure.value)


@pytest.mark.parametrize("state, given, missing", [
    ("present", {"host": API, "username": "alice"}, "password"),
    ("present", {"username": "alice", "password": PASSWORD}, "host"),
    ("absent", {"host": API}, "api_key")])
def test_missing_options_are_named_before_any_request(state, given, missing):
    params = {"host": "", "username": None, "password": None, "api_key": None, "verify": True}
    params.update(given)
    with pytest.raises(OAuthError, match=f"state={state} needs .*{missing}"):
        login_or_revoke(params, state)


class _Module:
    def __init__(self, **params):
        self.params = params


def test_session_params_take_the_task_options_first(monkeypatch):
    monkeypatch.setenv("K8S_AUTH_HOST", "https://env.example:6443")
    monkeypatch.setenv("K8S_AUTH_USERNAME", "env-user")
    params = session_params(_Module(host="https://api.example:6443/", username="alice",
                                    password="pw", validate_certs=False, oauth_host=None))
    assert params["host"] == "https://api.example:6443"
    assert (params["username"], params["password"], params["verify"]) == ("alice", "pw", False)


def test_session_params_fall_back_to_the_k8s_auth_variables(monkeypatch):
    monkeypatch.setenv("K8S_AUTH_HOST", "https://env.example:6443")
    monkeypatch.setenv("K8S_AUTH_API_KEY", "sha256~token")
    monkeypatch.setenv("K8S_AUTH_VERIFY_SSL", "no")  # the client's own name works too
    params = session_params(_Module(host=None, api_key=None, validate_certs=None))
    assert params["host"] == "https://env.example:6443"
    assert params["api_key"] == "sha256~token"
    assert params["verify"] is False
