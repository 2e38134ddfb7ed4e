"""A small but real OpenID Connect provider for the single sign-on tests.

It serves the authorization code flow over HTTP on a free port of 127.0.0.1, in a
thread of the test process: /authorize sends the browser back with a one-time code,
/token checks the client's secret, the redirect URI and the PKCE verifier and returns
an RS256-signed id_token, /userinfo answers for the access token, /jwks publishes the
public key. A test chooses who "signs in" at the provider by setting `person`, and can
make the provider misbehave the way a broken or hostile one would.

`sso_settings(provider)` turns Answerable's single sign-on on against it, as the
OIDC_* environment variables would.
"""

import base64
import functools
import hashlib
import importlib
import json
import secrets
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from django.test import override_settings
from django.urls import clear_url_caches
from jwt.algorithms import RSAAlgorithm

import config.urls

CLIENT_ID = "answerable-test"
CLIENT_SECRET = "a-client-secret-only-the-tests-know"  # noqa: S105 - test fixture


@functools.cache
def signing_key() -> rsa.RSAPrivateKey:
    """The provider's key, made once per test run: generating one takes a while."""
    return new_key()


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class Grant:
    claims: dict
    nonce: str | None
    redirect_uri: str
    code_challenge: str | None


@dataclass
class Provider:
    """What the provider knows and how it behaves; tests change it between flows."""

    issuer: str = ""
    person: dict = field(default_factory=dict)
    # Claims put in the id_token as well as in userinfo (the provider's choice).
    id_token_claims: tuple[str, ...] = ()
    userinfo_overrides: dict = field(default_factory=dict)
    userinfo_omits: tuple[str, ...] = ()
    deny: str = ""  # an OAuth error code /authorize answers with instead of a code
    tamper_id_token: bool = False
    audience: str = CLIENT_ID
    token_requests: list[dict] = field(default_factory=list)
    key: rsa.RSAPrivateKey = field(default_factory=lambda: signing_key())
    kid: str = "test-key-1"
    grants: dict[str, Grant] = field(default_factory=dict)
    access_tokens: dict[str, dict] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def endpoint(self, name: str) -> str:
        return f"{self.issuer}/{name}"

    def settings(self) -> dict:
        """The settings Answerable reads from OIDC_* environment variables."""
        return {
            "OIDC_RP_CLIENT_ID": CLIENT_ID,
            "OIDC_RP_CLIENT_SECRET": CLIENT_SECRET,
            "OIDC_OP_AUTHORIZATION_ENDPOINT": self.endpoint("authorize"),
            "OIDC_OP_TOKEN_ENDPOINT": self.endpoint("token"),
            "OIDC_OP_USER_ENDPOINT": self.endpoint("userinfo"),
            "OIDC_OP_JWKS_ENDPOINT": self.endpoint("jwks"),
            "OIDC_OP_ISSUER": self.issuer,
        }

    def id_token(self, grant: Grant) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": grant.claims["sub"],
            "aud": self.audience,
            "iat": now,
            "exp": now + 300,
        }
        if grant.nonce is not None:
            claims["nonce"] = grant.nonce
        claims.update({k: grant.claims[k] for k in self.id_token_claims if k in grant.claims})
        token = jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})
        if self.tamper_id_token:
            # Someone in the middle makes themselves an admin and keeps the signature.
            header, _, signature = token.split(".")
            forged = dict(claims, email="mallory@example.test", groups=["answerable-admins"])
            body = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
            token = f"{header}.{body}.{signature}"
        return token

    def jwks(self) -> dict:
        public = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [dict(public, kid=self.kid, alg="RS256", use="sig")]}


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class ProviderHandler(BaseHTTPRequestHandler):
    provider: Provider  # set on the subclass the server is made with

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass

    def _json(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):  # noqa: N802 - http.server's name
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/authorize":
            self.authorize(query)
        elif url.path == "/userinfo":
            self.userinfo()
        elif url.path == "/jwks":
            self._json(200, self.provider.jwks())
        else:
            self._json(404, {"error": "not_found"})

    def do_POST(self):  # noqa: N802 - http.server's name
        if urlsplit(self.path).path != "/token":
            self._json(404, {"error": "not_found"})
            return
        length = int(self.headers.get("Content-Length", "0"))
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        self.token(form)

    def authorize(self, query: dict) -> None:
        provider = self.provider
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") != CLIENT_ID or not redirect_uri:
            self._json(400, {"error": "invalid_request"})
            return
        back = {"state": query.get("state", "")}
        if provider.deny:
            back["error"] = provider.deny
        elif query.get("response_type") != "code" or "openid" not in query.get("scope", ""):
            back["error"] = "invalid_request"
        else:
            code = secrets.token_urlsafe(24)
            with provider.lock:
                provider.grants[code] = Grant(
                    claims=dict(provider.person),
                    nonce=query.get("nonce"),
                    redirect_uri=redirect_uri,
                    code_challenge=query.get("code_challenge"),
                )
            back["code"] = code
        self._redirect(f"{redirect_uri}?{urlencode(back)}")

    def token(self, form: dict) -> None:
        provider = self.provider
        provider.token_requests.append(form)
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            self._json(401, {"error": "invalid_client"})
            return
        with provider.lock:
            grant = provider.grants.pop(form.get("code", ""), None)
        if (
            grant is None
            or form.get("grant_type") != "authorization_code"
            or form.get("redirect_uri") != grant.redirect_uri
        ):
            self._json(400, {"error": "invalid_grant"})
            return
        if grant.code_challenge is not None and (
            _s256(form.get("code_verifier", "")) != grant.code_challenge
        ):
            self._json(400, {"error": "invalid_grant", "error_description": "PKCE"})
            return
        access_token = secrets.token_urlsafe(24)
        with provider.lock:
            provider.access_tokens[access_token] = grant.claims
        self._json(
            200,
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": 300,
                "id_token": provider.id_token(grant),
            },
        )

    def userinfo(self) -> None:
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        claims = self.provider.access_tokens.get(token) if scheme == "Bearer" else None
        if claims is None:
            self._json(401, {"error": "invalid_token"})
            return
        answer = dict(claims, **self.provider.userinfo_overrides)
        for claim in self.provider.userinfo_omits:
            answer.pop(claim, None)
        self._json(200, answer)


class ProviderServer:
    """Runs a Provider on 127.0.0.1 until stopped."""

    def __init__(self, provider: Provider):
        handler = type("Handler", (ProviderHandler,), {"provider": provider})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        provider.issuer = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.provider = provider
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, name="oidc-provider", daemon=True
        )

    def __enter__(self) -> Provider:
        self.thread.start()
        return self.provider

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


PROVIDER_NAME = "Example SSO"
ROLE_GROUPS = {
    "admin": ["answerable-admins"],
    "leader": ["answerable-leaders"],
    "moderator": ["answerable-moderators"],
}


def reload_urls() -> None:
    """The URLconf includes /oidc/ only when single sign-on is on, as it is read once."""
    importlib.reload(config.urls)
    clear_url_caches()


@contextmanager
def sso_settings(provider: Provider, **extra):
    values = {
        "OIDC_ENABLED": True,
        "OIDC_PROVIDER_NAME": PROVIDER_NAME,
        "OIDC_ROLE_GROUPS": ROLE_GROUPS,
        "AUTHENTICATION_BACKENDS": [
            "django.contrib.auth.backends.ModelBackend",
            "accounts.oidc.SignInBackend",
        ],
    }
    try:
        with override_settings(**(values | provider.settings() | extra)):
            reload_urls()
            yield provider
    finally:
        reload_urls()  # without /oidc/ again, now the settings are restored
