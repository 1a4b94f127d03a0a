"""A local identity provider for the tests, served on loopback in the test process: Google
Workspace's side of OpenID Connect (discovery, authorize, token, userinfo, JWKS; RS256 ID
tokens carrying the `hd` claim; PKCE and the client secret checked) and a SAML IdP's
HTTP-Redirect sign-in endpoint, which answers with a page that posts a response signed by a
throwaway key (`saml_idp.SamlIdp`) to our ACS. Nothing of ours is mocked: allauth talks to it
over HTTP as it would to Google, and a browser goes through its pages."""

from __future__ import annotations

import base64
import hashlib
import html
import http.client
import json
import secrets
import threading
import time
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree

from tests.integrations.sso.saml_idp import SamlIdp

CLIENT_ID = "opsduty-test.apps.googleusercontent.example"
CLIENT_SECRET = "GOCSPX-local-test-client-secret-0123456789"


@dataclass
class Person:
    """Who signs in at the IdP next (its claims)."""

    email: str
    hd: str | None = None
    email_verified: bool = True
    given_name: str = ""
    family_name: str = ""

    @property
    def sub(self) -> str:
        return hashlib.sha256(self.email.encode()).hexdigest()[:21]

    def claims(self) -> dict[str, Any]:
        claims: dict[str, Any] = {
            "sub": self.sub,
            "email": self.email,
            "email_verified": self.email_verified,
            "given_name": self.given_name,
            "family_name": self.family_name,
            "name": f"{self.given_name} {self.family_name}".strip(),
        }
        if self.hd is not None:
            claims["hd"] = self.hd
        return claims


@dataclass
class _Grant:
    redirect_uri: str
    code_challenge: str
    claims: dict[str, Any]
    nonce: str | None


@dataclass
class LocalIdp:
    """Start with `with LocalIdp() as idp:`; `idp.person` is who signs in next."""

    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    person: Person = field(default_factory=lambda: Person("member@a.example", hd="a.example"))
    saml: SamlIdp | None = None
    # Every request's method and path, in order (what allauth and the browser asked).
    seen: list[str] = field(default_factory=list)
    token_errors: list[str] = field(default_factory=list)
    _grants: dict[str, _Grant] = field(default_factory=dict)
    _access: dict[str, dict[str, Any]] = field(default_factory=dict)
    _server: ThreadingHTTPServer | None = None

    def __post_init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = secrets.token_hex(8)

    # --- life cycle

    def __enter__(self) -> LocalIdp:
        idp = self

        class Handler(_Handler):
            provider = idp

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        if self.saml is None:
            self.saml = SamlIdp(entity_id=f"{self.url}/saml", sso_url=f"{self.url}/saml/sso")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # --- OpenID Connect

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.url,
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "userinfo_endpoint": f"{self.url}/userinfo",
            "jwks_uri": f"{self.url}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": ["openid", "email", "profile"],
        }

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key()))
        return {"keys": [{**jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def authorize(self, query: dict[str, str]) -> str:
        """Check the authorization request; the URL our callback gets the code at."""
        if query.get("client_id") != self.client_id:
            raise ValueError("unknown client_id")
        if query.get("response_type") != "code" or query.get("code_challenge_method") != "S256":
            raise ValueError("only the code flow with PKCE (S256)")
        code = secrets.token_urlsafe(24)
        self._grants[code] = _Grant(
            redirect_uri=query["redirect_uri"],
            code_challenge=query["code_challenge"],
            claims=self.person.claims(),
            nonce=query.get("nonce"),
        )
        answer = {"code": code, "state": query.get("state", "")}
        return f"{query['redirect_uri']}?{urlencode(answer)}"

    def token(self, form: dict[str, str], basic: tuple[str, str] | None) -> dict[str, Any]:
        """The token endpoint: a code for an access token and an RS256 ID token."""
        client_id, secret = basic or (form.get("client_id", ""), form.get("client_secret", ""))
        if client_id != self.client_id or secret != self.client_secret:
            raise PermissionError("invalid_client")
        grant = self._grants.pop(form.get("code", ""), None)  # a code works once
        if grant is None or form.get("redirect_uri") != grant.redirect_uri:
            raise PermissionError("invalid_grant")
        verifier = form.get("code_verifier", "").encode()
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=")
        if challenge.decode() != grant.code_challenge:
            raise PermissionError("invalid_grant (PKCE)")
        access = secrets.token_urlsafe(24)
        self._access[access] = grant.claims
        now = int(time.time())
        claims = {
            **grant.claims,
            "iss": self.url,
            "aud": self.client_id,
            "iat": now,
            "exp": now + 300,
        }
        if grant.nonce:
            claims["nonce"] = grant.nonce
        key = self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        id_token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": self.kid})
        return {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": 300,
            "id_token": id_token,
            "scope": "openid email profile",
        }

    def userinfo(self, access_token: str) -> dict[str, Any]:
        claims = self._access.get(access_token)
        if claims is None:
            raise PermissionError("invalid_token")
        return claims

    def visit(self, url: str) -> str:
        """A browser's visit to the IdP's authorize URL: where the IdP sends it back to."""
        parsed = urlparse(url)
        assert f"{parsed.scheme}://{parsed.netloc}" == self.url, url
        connection = http.client.HTTPConnection(parsed.netloc, timeout=10)
        try:
            connection.request("GET", f"{parsed.path}?{parsed.query}")
            answer = connection.getresponse()
            assert answer.status == 302, answer.read().decode()
            return str(answer.getheader("Location"))
        finally:
            connection.close()

    # --- SAML

    def saml_page(self, query: dict[str, str]) -> str:
        """The IdP's answer to an AuthnRequest (HTTP-Redirect binding): a page whose button
        posts a response signed for `person` to the ACS the request names."""
        assert self.saml is not None
        xml = zlib.decompress(base64.b64decode(query["SAMLRequest"]), -15)
        request = etree.fromstring(xml)  # noqa: S320 - the SP under test wrote it
        issuer = request.findtext("{urn:oasis:names:tc:SAML:2.0:assertion}Issuer") or ""
        acs = str(request.get("AssertionConsumerServiceURL"))
        response = self.saml.response(
            acs_url=acs,
            audience=issuer,
            in_response_to=str(request.get("ID")),
            email=self.person.email,
            given_name=self.person.given_name,
        )
        encoded = base64.b64encode(response.encode()).decode()
        relay = html.escape(query.get("RelayState", ""))
        return (
            "<!doctype html><html lang=en><title>Local IdP</title><h1>Local IdP</h1>"
            f"<p>Signed in at the IdP as {html.escape(self.person.email)}.</p>"
            f'<form method=post action="{html.escape(acs)}">'
            f'<input type=hidden name=SAMLResponse value="{encoded}">'
            f'<input type=hidden name=RelayState value="{relay}">'
            "<button type=submit>Continue to OpsDuty</button></form>"
        )


class _Handler(BaseHTTPRequestHandler):
    provider: LocalIdp

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        pass  # quiet

    def _send(self, status: int, body: str, content_type: str = "application/json") -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        self._send(status, json.dumps(payload))

    def do_GET(self) -> None:
        idp = self.provider
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        idp.seen.append(f"GET {url.path}")
        if url.path == "/.well-known/openid-configuration":
            self._json(200, idp.discovery())
        elif url.path == "/jwks":
            self._json(200, idp.jwks())
        elif url.path == "/authorize":
            try:
                location = idp.authorize(query)
            except (KeyError, ValueError) as error:
                self._send(400, f"bad authorization request: {error}", "text/plain")
                return
            self.send_response(302)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif url.path == "/userinfo":
            bearer = self.headers.get("Authorization", "").removeprefix("Bearer ")
            try:
                self._json(200, idp.userinfo(bearer))
            except PermissionError as error:
                self._json(401, {"error": str(error)})
        elif url.path == "/saml/metadata" and idp.saml is not None:
            self._send(200, idp.saml.metadata(), "application/samlmetadata+xml")
        elif url.path == "/saml/sso":
            self._send(200, idp.saml_page(query), "text/html; charset=utf-8")
        else:
            self._send(404, "not found", "text/plain")

    def do_POST(self) -> None:
        idp = self.provider
        url = urlparse(self.path)
        idp.seen.append(f"POST {url.path}")
        length = int(self.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        if url.path != "/token":
            self._send(404, "not found", "text/plain")
            return
        basic = None
        header = self.headers.get("Authorization", "")
        if header.startswith("Basic "):
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            basic = (user, password)
        try:
            self._json(200, idp.token(form, basic))
        except PermissionError as error:
            idp.token_errors.append(str(error))
            self._json(400, {"error": str(error)})
