"""OpenShift-style OAuth for every lab cluster, in one process:
``python -m lab.oauth_server --config F``.

Per cluster, on its own HTTPS port (lab CA serving certificate):

- ``GET /.well-known/oauth-authorization-server``: the metadata document (issuer, endpoints);
- ``GET /oauth/authorize?client_id=openshift-challenging-client&response_type=token|code``
  with Basic credentials and ``X-CSRF-Token`` (the challenging-client flow of ``oc login`` and
  community.okd's openshift_auth): 302 to ``<issuer>/oauth/token/implicit`` carrying the token
  in the fragment (``token``) or a one-time code in the query (``code``, optional PKCE);
  401 + ``WWW-Authenticate: Basic realm="openshift"`` without or with wrong credentials;
- ``POST /oauth/token``: exchanges such a code for the token;
- ``POST /tokenreview``: the apiserver's token webhook (authentication.k8s.io/v1 TokenReview);
- ``/apis/oauth.openshift.io/v1/oauthaccesstokens[/<name>]`` (get, list, delete): the token store
  as an aggregated API, as OpenShift's oauth-apiserver serves it. The cluster's kube-apiserver
  authenticates and authorizes (RBAC) the caller and proxies with the front-proxy client
  certificate; only such requests are answered.

Tokens are ``sha256~<random>``; each is stored as the cluster-scoped object
``oauthaccesstokens/sha256~<base64url-nopad(sha256(random))>`` as OpenShift does (a CRD cannot
hold that name: CR names must be DNS subdomains). A token is accepted only while its object
exists and has not expired, so deleting the object revokes it. Only the hash is stored (in
``<LAB_DIR>/oauth/<cluster>.json``); tokens and passwords are never logged.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import secrets
import signal
import ssl
import sys
import threading
import time
import urllib.parse
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from lab.ca import FRONT_PROXY_CN

CHALLENGING_CLIENT = "openshift-challenging-client"
TOKEN_TTL = 86400
CODE_TTL = 300
USER_GROUPS = {"lab-admin": ["system:masters"], "federation-automation": []}
API_PREFIX = "/apis/oauth.openshift.io/v1"
TOKENS_PATH = f"{API_PREFIX}/oauthaccesstokens"


def token_object_name(token: str) -> str:
    """OpenShift's storage name for an access token ``sha256~<body>``."""
    body = token.removeprefix("sha256~")
    digest = hashlib.sha256(body.encode()).digest()
    return "sha256~" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def log(msg: str) -> None:
    print(f"{datetime.now(UTC).isoformat(timespec='seconds')} {msg}", flush=True)


class ClusterOAuth:
    """One cluster's OAuth server state: where its apiserver is and who may log in."""

    def __init__(self, name: str, conf: dict, store: Path, passwords: dict[str, str]):
        self.name = name
        self.issuer = conf["issuer"]
        self.port = conf["port"]
        self.store = store
        self.passwords = passwords
        self.codes: dict[str, dict] = {}
        self.lock = threading.Lock()
        self.tokens: dict[str, dict] = json.loads(store.read_text()) if store.exists() else {}

    def _save(self) -> None:
        tmp = self.store.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.tokens, indent=1))
        tmp.replace(self.store)

    def get(self, name: str) -> dict | None:
        with self.lock:
            return self.tokens.get(name)

    def list(self) -> list[dict]:
        with self.lock:
            return list(self.tokens.values())

    def delete(self, name: str) -> dict | None:
        with self.lock:
            obj = self.tokens.pop(name, None)
            if obj is not None:
                self._save()
        if obj is not None:
            log(f"cluster={self.name} token of user={obj['userName']} deleted (revoked)")
        return obj

    def check_password(self, user: str, password: str) -> bool:
        expected = self.passwords.get(user)
        return expected is not None and hmac.compare_digest(expected.encode(), password.encode())

    def issue_token(self, user: str) -> str:
        token = "sha256~" + secrets.token_urlsafe(32)
        name = token_object_name(token)
        obj = {
            "apiVersion": "oauth.openshift.io/v1",
            "kind": "OAuthAccessToken",
            "metadata": {
                "name": name,
                "uid": str(uuid.uuid4()),
                "resourceVersion": str(time.time_ns()),
                "creationTimestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
            "clientName": CHALLENGING_CLIENT,
            "expiresIn": TOKEN_TTL,
            "scopes": ["user:full"],
            "redirectURI": f"{self.issuer}/oauth/token/implicit",
            "userName": user,
            "userUID": self.uid(user),
        }
        with self.lock:
            self.tokens[name] = obj
            self._save()
        log(f"cluster={self.name} issued a token for user={user}")
        return token

    def uid(self, user: str) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.issuer}/users/{user}"))

    def review(self, token: str) -> dict:
        """TokenReview status for ``token``: authenticated only while its object is live."""
        if not token.startswith("sha256~"):
            return {"authenticated": False}
        obj = self.get(token_object_name(token))
        if obj is None:
            return {"authenticated": False, "error": "token not found (revoked or never issued)"}
        created = datetime.fromisoformat(obj["metadata"]["creationTimestamp"])
        expires_in = obj.get("expiresIn") or 0
        if expires_in > 0 and created.timestamp() + expires_in < time.time():
            return {"authenticated": False, "error": "token expired"}
        user = obj.get("userName", "")
        return {
            "authenticated": True,
            "user": {
                "username": user,
                "uid": obj.get("userUID", ""),
                "groups": USER_GROUPS.get(user, []) + ["system:authenticated:oauth"],
            },
        }

    def new_code(self, user: str, challenge: str | None, method: str | None) -> str:
        code = secrets.token_urlsafe(24)
        with self.lock:
            now = time.time()
            self.codes = {c: v for c, v in self.codes.items() if v["expires"] > now}
            self.codes[code] = {"user": user, "challenge": challenge, "method": method,
                                "expires": now + CODE_TTL}
        return code

    def redeem_code(self, code: str, verifier: str | None) -> str | None:
        with self.lock:
            grant = self.codes.pop(code, None)
        if grant is None or grant["expires"] < time.time():
            return None
        if grant["challenge"]:
            if not verifier:
                return None
            if grant["method"] == "S256":
                digest = hashlib.sha256(verifier.encode()).digest()
                computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            else:
                computed = verifier
            if not hmac.compare_digest(computed, grant["challenge"]):
                return None
        return grant["user"]


class Handler(BaseHTTPRequestHandler):
    server_version = "lab-oauth"
    cluster: ClusterOAuth  # set per server

    def log_message(self, format, *args):  # noqa: A002 - BaseHTTPRequestHandler's signature
        # Only method, path without query (codes travel there) and status: never credentials.
        path = urllib.parse.urlsplit(self.path).path
        log(f"cluster={self.cluster.name} {self.command} {path} {args[1] if len(args) > 1 else ''}")

    def _send(self, status: int, body=None, headers: dict | None = None) -> None:
        data = b"" if body is None else (
            json.dumps(body).encode() if not isinstance(body, str) else body.encode())
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if body is not None:
            self.send_header("Content-Type",
                             "text/plain" if isinstance(body, str) else "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _challenge(self, reason: str) -> None:
        self._send(401, reason + "\n", {"WWW-Authenticate": 'Basic realm="openshift"'})

    def do_GET(self):  # noqa: N802 - http.server naming
        url = urllib.parse.urlsplit(self.path)
        issuer = self.cluster.issuer
        if url.path == "/.well-known/oauth-authorization-server":
            self._send(200, {
                "issuer": issuer,
                "authorization_endpoint": f"{issuer}/oauth/authorize",
                "token_endpoint": f"{issuer}/oauth/token",
                "scopes_supported": ["user:full", "user:info", "user:check-access"],
                "response_types_supported": ["code", "token"],
                "grant_types_supported": ["authorization_code", "implicit"],
                "code_challenge_methods_supported": ["plain", "S256"],
            })
        elif url.path == "/oauth/authorize":
            self._authorize(urllib.parse.parse_qs(url.query))
        elif url.path == "/oauth/token/implicit":
            self._send(200, "You are logged in; the token is in this page's URL fragment.\n")
        elif url.path == "/healthz":
            self._send(200, "ok\n")
        elif url.path.startswith("/apis") or url.path.startswith("/openapi"):
            self._api("GET")
        else:
            self._send(404, "not found\n")

    def _authorize(self, query: dict) -> None:
        one = {k: v[0] for k, v in query.items()}
        if one.get("client_id") != CHALLENGING_CLIENT:
            return self._send(400, {"error": "unauthorized_client",
                                    "error_description": f"only {CHALLENGING_CLIENT} is served"})
        if one.get("response_type") not in ("token", "code"):
            return self._send(400, {"error": "unsupported_response_type"})
        user = self._basic_user()
        if user is None:
            return self._challenge("Unauthorized: give valid credentials (Basic)")
        if not self.headers.get("X-CSRF-Token"):
            return self._send(400, "X-CSRF-Token header required for challenging clients\n")
        target = f"{self.cluster.issuer}/oauth/token/implicit"
        if one["response_type"] == "token":
            token = self.cluster.issue_token(user)
            fragment = urllib.parse.urlencode({
                "access_token": token, "expires_in": TOKEN_TTL,
                "scope": "user:full", "token_type": "Bearer"})
            location = f"{target}#{fragment}"
        else:
            code = self.cluster.new_code(user, one.get("code_challenge"),
                                         one.get("code_challenge_method"))
            params = {"code": code, **({"state": one["state"]} if "state" in one else {})}
            location = f"{target}?{urllib.parse.urlencode(params)}"
        self._send(302, None, {"Location": location})

    def _basic_user(self) -> str | None:
        auth = self.headers.get("Authorization", "")
        if not auth.lower().startswith("basic "):
            return None
        try:
            user, _sep, password = base64.b64decode(auth[6:]).decode().partition(":")
        except ValueError:
            return None
        return user if self.cluster.check_password(user, password) else None

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_POST(self):  # noqa: N802 - http.server naming
        path = urllib.parse.urlsplit(self.path).path
        if path == "/tokenreview":
            self._tokenreview()
        elif path == "/oauth/token":
            self._token()
        else:
            self._send(404, "not found\n")

    def _token(self) -> None:
        form = {k: v[0] for k, v in urllib.parse.parse_qs(self._body().decode()).items()}
        if form.get("grant_type") != "authorization_code":
            return self._send(400, {"error": "unsupported_grant_type"})
        user = self.cluster.redeem_code(form.get("code", ""), form.get("code_verifier"))
        if user is None:
            return self._send(400, {"error": "invalid_grant"})
        token = self.cluster.issue_token(user)
        self._send(200, {"access_token": token, "token_type": "Bearer",
                         "expires_in": TOKEN_TTL, "scope": "user:full"})

    def _tokenreview(self) -> None:
        try:
            review = json.loads(self._body())
            token = review["spec"]["token"]
        except (ValueError, KeyError, TypeError):
            return self._send(400, "expected a TokenReview\n")
        self._send(200, {"apiVersion": review.get("apiVersion", "authentication.k8s.io/v1"),
                         "kind": "TokenReview", "status": self.cluster.review(token)})

    # --- the aggregated oauth.openshift.io/v1 API (reached only through the kube-apiserver) ---

    def _from_front_proxy(self) -> bool:
        # The kube-apiserver has already authenticated and authorized (RBAC) the caller; it
        # proves itself with the front-proxy client certificate (signed by the lab CA).
        cert = self.connection.getpeercert() or {}
        cns = [v for rdn in cert.get("subject", ()) for k, v in rdn if k == "commonName"]
        return FRONT_PROXY_CN in cns

    def _api(self, method: str) -> None:
        path = urllib.parse.urlsplit(self.path).path.rstrip("/")
        if not self._from_front_proxy():
            return self._status(403, "Forbidden", "only the kube-apiserver may call this API")
        if path == "/apis" and method == "GET":
            return self._send(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [{
                "name": "oauth.openshift.io",
                "versions": [{"groupVersion": "oauth.openshift.io/v1", "version": "v1"}],
                "preferredVersion": {"groupVersion": "oauth.openshift.io/v1", "version": "v1"},
            }]})
        if path == API_PREFIX and method == "GET":
            return self._send(200, {
                "kind": "APIResourceList", "apiVersion": "v1",
                "groupVersion": "oauth.openshift.io/v1",
                "resources": [{"name": "oauthaccesstokens", "singularName": "oauthaccesstoken",
                               "namespaced": False, "kind": "OAuthAccessToken",
                               "verbs": ["delete", "get", "list"]}],
            })
        if path == TOKENS_PATH and method == "GET":
            return self._send(200, {"kind": "OAuthAccessTokenList",
                                    "apiVersion": "oauth.openshift.io/v1",
                                    "metadata": {"resourceVersion": str(time.time_ns())},
                                    "items": self.cluster.list()})
        if path.startswith(TOKENS_PATH + "/") and method in ("GET", "DELETE"):
            name = path[len(TOKENS_PATH) + 1:]
            obj = self.cluster.get(name) if method == "GET" else self.cluster.delete(name)
            if obj is None:
                return self._status(404, "NotFound",
                                    f'oauthaccesstokens.oauth.openshift.io "{name}" not found',
                                    name)
            if method == "GET":
                return self._send(200, obj)
            return self._send(200, {"kind": "Status", "apiVersion": "v1", "status": "Success",
                                    "details": {"name": name, "group": "oauth.openshift.io",
                                                "kind": "oauthaccesstokens",
                                                "uid": obj["metadata"]["uid"]}})
        return self._status(405 if path.startswith(TOKENS_PATH) else 404,
                            "MethodNotAllowed" if path.startswith(TOKENS_PATH) else "NotFound",
                            f"{method} {path} is not served")

    def _status(self, code: int, reason: str, message: str, name: str | None = None) -> None:
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": message, "reason": reason, "code": code}
        if name:
            body["details"] = {"name": name, "group": "oauth.openshift.io",
                               "kind": "oauthaccesstokens"}
        self._send(code, body)

    def do_DELETE(self):  # noqa: N802 - http.server naming
        self._api("DELETE")


def serve(config_file: Path) -> None:
    conf = json.loads(config_file.read_text())
    passwords = json.loads(Path(conf["credentials"]).read_text())
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=conf["ca"])
    tls.load_cert_chain(conf["cert"], conf["key"])
    # Browsers and CLIs log in without a client certificate; the kube-apiserver presents its
    # front-proxy certificate when it proxies the aggregated API.
    tls.verify_mode = ssl.CERT_OPTIONAL
    store = Path(conf["store"])
    store.mkdir(parents=True, exist_ok=True)
    servers = []
    for name, cluster_conf in conf["clusters"].items():
        cluster = ClusterOAuth(name, cluster_conf, store / f"{name}.json", passwords.get(name, {}))
        handler = type(f"Handler_{name}", (Handler,), {"cluster": cluster})
        httpd = ThreadingHTTPServer(("127.0.0.1", cluster.port), handler)
        httpd.daemon_threads = True
        # Handshake in the request thread, so one slow client cannot stall the accept loop.
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True,
                                       do_handshake_on_connect=False)
        servers.append(httpd)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        log(f"cluster={name} serving OAuth at {cluster.issuer}")

    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    stopping.wait()
    for httpd in servers:
        httpd.shutdown()
    log("stopped")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.oauth_server",
                                     description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--config", type=Path, required=True,
                        help="<LAB_DIR>/oauth.json written by `python -m lab up`")
    serve(parser.parse_args(argv).config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
