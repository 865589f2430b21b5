"""Real signed JWTs for tests: an OIDC issuer on loopback (discovery + JWKS) with keys generated here."""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import itertools
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

_paths = itertools.count()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class SigningKey:
    kid: str
    private: Any
    alg: str

    @classmethod
    def rsa(cls, kid: str | None = None) -> SigningKey:
        return cls(kid or uuid.uuid4().hex, rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256")

    @classmethod
    def ec(cls, kid: str | None = None) -> SigningKey:
        return cls(kid or uuid.uuid4().hex, ec.generate_private_key(ec.SECP256R1()), "ES256")

    def jwk(self) -> dict[str, Any]:
        algorithm = jwt.algorithms.RSAAlgorithm if self.alg == "RS256" else jwt.algorithms.ECAlgorithm
        data = json.loads(algorithm.to_jwk(self.private.public_key()))
        return {**data, "kid": self.kid, "use": "sig", "alg": self.alg}

    def public_pem(self) -> bytes:
        return bytes(
            self.private.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def sign(self, claims: dict[str, Any], **header: Any) -> str:
        return jwt.encode(claims, self.private, algorithm=self.alg, headers={"kid": self.kid, **header})


@dataclass
class Issuer:
    """One OIDC issuer served by ``IssuerServer`` under its own path (so caches never mix issuers)."""

    url: str
    keys: list[SigningKey] = field(default_factory=list)

    @property
    def jwks_uri(self) -> str:
        return f"{self.url}/jwks.json"

    def claims(self, audience: str, email: str, lifetime: int = 300, **extra: Any) -> dict[str, Any]:
        now = int(time.time())
        base = {
            "iss": self.url,
            "aud": audience,
            "sub": uuid.uuid4().hex,
            "email": email,
            "email_verified": True,
            "iat": now,
            "exp": now + lifetime,
            "jti": uuid.uuid4().hex,
        }
        return {**base, **extra}

    def token(self, audience: str, email: str, key: SigningKey | None = None, **extra: Any) -> str:
        return (key or self.keys[0]).sign(self.claims(audience, email, **extra))


class IssuerServer:
    """A loopback HTTP server answering discovery and JWKS requests for any number of issuers."""

    def __init__(self) -> None:
        self.issuers: dict[str, Issuer] = {}
        self.fetches: dict[str, int] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                prefix, _, leaf = self.path.rpartition("/")
                if leaf == "openid-configuration":
                    prefix = prefix.removesuffix("/.well-known")
                issuer = server.issuers.get(prefix)
                if issuer is None:
                    self.send_error(404)
                    return
                server.fetches[self.path] = server.fetches.get(self.path, 0) + 1
                if leaf == "jwks.json":
                    body: dict[str, Any] = {"keys": [k.jwk() for k in issuer.keys]}
                else:
                    body = {"issuer": issuer.url, "jwks_uri": issuer.jwks_uri}
                payload = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def issuer(self, *keys: SigningKey) -> Issuer:
        path = f"/issuer{next(_paths)}"
        issuer = Issuer(self.base + path, list(keys) or [SigningKey.rsa()])
        self.issuers[path] = issuer
        return issuer

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@contextmanager
def issuer_server() -> Iterator[IssuerServer]:
    server = IssuerServer()
    try:
        yield server
    finally:
        server.stop()


def unsigned(claims: dict[str, Any]) -> str:
    """``alg: none``: a token with no signature at all."""
    header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{b64url(json.dumps(claims).encode())}."


def hs256_with(secret: bytes, claims: dict[str, Any], kid: str) -> str:
    """HS256 keyed with ``secret`` (the algorithm-confusion attack: the issuer's *public* key as HMAC secret)."""
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    body = b64url(json.dumps(claims).encode())
    signature = hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{b64url(signature)}"


def tampered(token: str, **changes: Any) -> str:
    """The same signature over changed claims."""
    header, body, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return f"{header}.{b64url(json.dumps({**claims, **changes}).encode())}.{signature}"


def moto_pool_key() -> SigningKey:
    """The private key moto signs its Cognito tokens with (kid ``dummy``), to forge pool-shaped tokens."""
    import moto.cognitoidp

    path = Path(moto.cognitoidp.__file__).parent / "resources" / "jwks-private.json.gz"
    jwk = json.loads(gzip.decompress(path.read_bytes()))
    return SigningKey(jwk.get("kid", "dummy"), jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(jwk)), "RS256")
