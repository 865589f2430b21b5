"""Secret references in server configs, and turning a stored server into a downstream ``Target``.

References are ``{"secret_id": "NAME"}`` (the whole value) or ``{{ secrets.NAME }}`` inside a string.
They may appear in ``headers``, ``env`` (hosted servers), ``auth`` (``token``, ``headers``) and ``tls``
(``ca_cert``, ``client_cert``, ``client_key``). Values are resolved only when a call is made, and only
the references are ever stored, shown or exported.
"""

from __future__ import annotations

import os
import ssl
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

from portico.errors import UpstreamError
from portico.gateway.downstream import Target, Tls
from portico.models.secrets import TEMPLATE

MASK = "********"
TLS_FIELDS = ("ca_cert", "client_cert", "client_key")
Lookup = Callable[[str], str]


def _refs_in(value: Any) -> Iterator[str]:
    if isinstance(value, dict) and "secret_id" in value:
        yield str(value["secret_id"])
    elif isinstance(value, str):
        yield from TEMPLATE.findall(value)


def references(server: dict[str, Any]) -> list[tuple[str, str]]:
    """Every ``(field, secret name)`` a stored (or about to be stored) server config refers to."""
    found: list[tuple[str, str]] = []
    for section in ("headers", "env"):
        for key, value in (server.get(section) or {}).items():
            found += [(f"{section}.{key}", name) for name in _refs_in(value)]
    auth = server.get("auth") or {}
    found += [("auth.token", name) for name in _refs_in(auth.get("token"))]
    for key, value in (auth.get("headers") or {}).items():
        found += [(f"auth.headers.{key}", name) for name in _refs_in(value)]
    tls = server.get("tls") or {}
    for key in TLS_FIELDS:
        found += [(f"tls.{key}", name) for name in _refs_in(tls.get(key))]
    return found


def configured_values(server: dict[str, Any]) -> list[tuple[str, Any]]:
    """Every ``(field, value)`` of a server config that may hold a credential."""
    found = [(f"{section}.{k}", v) for section in ("headers", "env") for k, v in (server.get(section) or {}).items()]
    auth = server.get("auth") or {}
    if "token" in auth:
        found.append(("auth.token", auth["token"]))
    found += [(f"auth.headers.{k}", v) for k, v in (auth.get("headers") or {}).items()]
    return found


def resolve(value: Any, lookup: Lookup) -> str:
    """A configured value with its references replaced by secret values."""
    if isinstance(value, dict) and "secret_id" in value:
        return lookup(str(value["secret_id"]))
    return TEMPLATE.sub(lambda m: lookup(m.group(1)), str(value))


def resolve_map(values: dict[str, Any] | None, lookup: Lookup) -> dict[str, str]:
    """A header or environment map with every reference resolved (hosted servers' ``env`` too)."""
    return {key: resolve(value, lookup) for key, value in (values or {}).items()}


def masked(value: Any) -> Any:
    """What an endpoint may show of a configured value: references as written, literal text masked."""
    if isinstance(value, dict) and "secret_id" in value:
        return {"secret_id": value["secret_id"]}
    if isinstance(value, str) and TEMPLATE.search(value):
        return value
    return MASK


def public_config(server: dict[str, Any]) -> dict[str, Any]:
    """``headers``, ``auth`` and ``tls`` of a server as any endpoint shows them (never a secret value)."""
    out: dict[str, Any] = {"headers": {k: masked(v) for k, v in (server.get("headers") or {}).items()}}
    auth = server.get("auth")
    if auth:
        shown = {"type": auth["type"]}
        if "token" in auth:
            shown["token"] = masked(auth["token"])
        if "headers" in auth:
            shown["headers"] = {k: masked(v) for k, v in auth["headers"].items()}
        out["auth"] = shown
    else:
        out["auth"] = None
    out["tls"] = dict(server["tls"]) if server.get("tls") else None
    if "env" in server and isinstance(server["env"], dict):
        out["env"] = {k: masked(v) for k, v in server["env"].items()}
    return out


def _header_safe(name: str, value: str, server: str) -> str:
    if "\r" in value or "\n" in value or "\x00" in value:
        raise UpstreamError(f"server {server}: the value of header {name} contains a line break", header=name)
    return value


def target_of(server: dict[str, Any], lookup: Lookup | None = None, caller_token: str | None = None) -> Target:
    """The downstream ``Target`` of a stored server, with headers, auth and TLS material resolved.

    Raises:
        UpstreamError: a referenced secret is missing, a resolved value is unusable in a header, or the
            server forwards the caller's token and the request carries none.
    """
    name = server["name"]

    def need(secret: str) -> str:
        if lookup is None:
            raise UpstreamError(f"server {name} references secret {secret}, but no secrets are configured")
        return lookup(secret)

    headers = {k: _header_safe(k, resolve(v, need), name) for k, v in (server.get("headers") or {}).items()}
    auth = server.get("auth") or {}
    kind = auth.get("type", "none")
    if kind == "token":
        headers["Authorization"] = _header_safe("Authorization", f"Bearer {resolve(auth['token'], need)}", name)
    elif kind == "headers":
        headers.update({k: _header_safe(k, resolve(v, need), name) for k, v in auth["headers"].items()})
    elif kind == "forward":
        if not caller_token:
            raise UpstreamError(
                f"server {name} forwards the caller's bearer token, and this request carries none",
                server_id=server["id"],
            )
        headers["Authorization"] = f"Bearer {caller_token}"
    tls = None
    options = server.get("tls")
    if options:
        tls = Tls(
            verify_certs=bool(options.get("verify_certs", True)),
            accept_invalid_hostnames=bool(options.get("accept_invalid_hostnames", False)),
            ca_cert=resolve(options["ca_cert"], need) if options.get("ca_cert") else None,
            client_cert=resolve(options["client_cert"], need) if options.get("client_cert") else None,
            client_key=resolve(options["client_key"], need) if options.get("client_key") else None,
        )
    return Target(
        server_id=server["id"],
        name=name,
        url=server["url"],
        transport=server.get("transport") or "streamable-http",
        headers=headers,
        tls=tls,
        hosted=server.get("source_type", "remote") != "remote",
    )


_contexts: OrderedDict[str, ssl.SSLContext] = OrderedDict()
_contexts_lock = threading.Lock()


def ssl_context(tls: Tls, server: str) -> ssl.SSLContext:
    """An ``SSLContext`` for ``tls`` (built once per distinct material in a warm process, bounded).

    Raises:
        UpstreamError: the CA, certificate or key is not valid PEM, or the key does not match.
    """
    key = tls.fingerprint()
    with _contexts_lock:
        found = _contexts.get(key)
        if found is not None:
            _contexts.move_to_end(key)
            return found
    try:
        context = ssl.create_default_context(cadata=tls.ca_cert) if tls.ca_cert else ssl.create_default_context()
        if not tls.verify_certs:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        elif tls.accept_invalid_hostnames:
            context.check_hostname = False
        if tls.client_cert and tls.client_key:
            _load_client_pair(context, tls.client_cert, tls.client_key)
    except (ssl.SSLError, ValueError) as exc:
        raise UpstreamError(f"server {server}: invalid TLS material ({type(exc).__name__})") from exc
    with _contexts_lock:
        _contexts[key] = context
        while len(_contexts) > 64:
            _contexts.popitem(last=False)
    return context


def _load_client_pair(context: ssl.SSLContext, cert: str, key: str) -> None:
    """``load_cert_chain`` reads files only: write the pair to a private temporary directory, load, remove."""
    with tempfile.TemporaryDirectory(prefix="portico-tls-") as directory:
        cert_path = os.path.join(directory, "cert.pem")
        key_path = os.path.join(directory, "key.pem")
        for path, text in ((cert_path, cert), (key_path, key)):
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(text)
        context.load_cert_chain(cert_path, key_path)
