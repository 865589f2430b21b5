"""Secret references, downstream targets, the warm secret cache, and import format detection (no AWS)."""

from __future__ import annotations

from typing import Any

import pytest

from portico.errors import UpstreamError, ValidationError
from portico.gateway.client import ConnectionCache
from portico.gateway.credentials import masked, public_config, references, resolve, target_of
from portico.gateway.downstream import Tls
from portico.services.secrets import SecretResolver
from portico.services.transfer import ServerTransfer, env_to_secrets

SERVER: dict[str, Any] = {
    "id": "mcp_1",
    "org_id": "org_1",
    "name": "s",
    "url": "https://s.example/mcp",
    "headers": {"X-A": {"secret_id": "A"}, "X-B": "pre {{ secrets.B }} {{secrets.C}}", "X-L": "literal"},
    "auth": {"type": "headers", "headers": {"X-D": "{{ secrets.D }}"}},
    "tls": {"ca_cert": {"secret_id": "CA"}, "client_cert": None},
    "env": {"TOKEN": {"secret_id": "E"}},
}
VALUES = {"A": "va", "B": "vb", "C": "vc", "D": "vd", "CA": "pem", "E": "ve", "T": "vt"}


def test_references_are_found_with_their_fields() -> None:
    assert references(SERVER) == [
        ("headers.X-A", "A"),
        ("headers.X-B", "B"),
        ("headers.X-B", "C"),
        ("env.TOKEN", "E"),
        ("auth.headers.X-D", "D"),
        ("tls.ca_cert", "CA"),
    ]


def test_values_resolve_and_views_show_only_references() -> None:
    assert resolve("pre {{ secrets.B }}-{{secrets.C}}", VALUES.__getitem__) == "pre vb-vc"
    assert resolve({"secret_id": "A"}, VALUES.__getitem__) == "va"
    assert masked("literal") == "********" and masked({"secret_id": "A"}) == {"secret_id": "A"}
    shown = public_config(SERVER)
    assert shown["headers"] == {"X-A": {"secret_id": "A"}, "X-B": SERVER["headers"]["X-B"], "X-L": "********"}
    assert "va" not in str(shown) and shown["env"] == {"TOKEN": {"secret_id": "E"}}


def test_targets_carry_resolved_headers_auth_and_tls() -> None:
    target = target_of(SERVER, VALUES.__getitem__)
    assert target.headers == {"X-A": "va", "X-B": "pre vb vc", "X-L": "literal", "X-D": "vd"}
    assert target.tls == Tls(ca_cert="pem")
    token = target_of({**SERVER, "auth": {"type": "token", "token": {"secret_id": "T"}}}, VALUES.__getitem__)
    assert token.headers["Authorization"] == "Bearer vt"
    forward = target_of({**SERVER, "auth": {"type": "forward"}}, VALUES.__getitem__, "caller-token")
    assert forward.headers["Authorization"] == "Bearer caller-token"
    with pytest.raises(UpstreamError, match="carries none"):
        target_of({**SERVER, "auth": {"type": "forward"}}, VALUES.__getitem__, None)
    with pytest.raises(UpstreamError, match="line break"):
        target_of({**SERVER, "auth": None}, {**VALUES, "A": "x\r\nInjected: 1"}.__getitem__)


def test_the_connection_key_changes_with_tls_material() -> None:
    plain = target_of({**SERVER, "tls": None}, VALUES.__getitem__)
    with_ca = target_of(SERVER, VALUES.__getitem__)
    other_ca = target_of(SERVER, {**VALUES, "CA": "other"}.__getitem__)
    keys = {ConnectionCache.key(t) for t in (plain, with_ca, other_ca)}
    assert len(keys) == 3


class FakeIndex:
    def __init__(self) -> None:
        self.versions: dict[str, str] = {"K": "v1"}
        self.reads = 0

    def get(self, org_id: str, name: str) -> dict[str, Any] | None:
        self.reads += 1
        return {"version_id": self.versions[name]} if name in self.versions else None


class FakeValues:
    def __init__(self) -> None:
        self.fetches = 0

    def get(self, org_id: str, name: str, version_id: str | None) -> str:
        self.fetches += 1
        return f"{name}@{version_id}"


def test_the_warm_cache_is_keyed_by_version_and_bounded() -> None:
    index, values = FakeIndex(), FakeValues()
    resolver = SecretResolver(index, values, ttl=0, max_size=2)  # type: ignore[arg-type]
    assert resolver.value("org", "K") == "K@v1" and resolver.value("org", "K") == "K@v1"
    assert values.fetches == 1 and index.reads == 2  # the version is re-checked, the value reused
    index.versions["K"] = "v2"
    assert resolver.value("org", "K") == "K@v2" and values.fetches == 2
    for n in range(5):
        index.versions[f"N{n}"] = "v1"
        resolver.value("org", f"N{n}")
    assert len(resolver._values) == 2
    del index.versions["K"]
    with pytest.raises(UpstreamError, match="secret K"):
        resolver.value("org", "K", "srv")
    cached = SecretResolver(FakeIndex(), FakeValues(), ttl=60)  # type: ignore[arg-type]
    cached.value("org", "K")
    cached.value("org", "K")
    assert cached.index.reads == 1  # type: ignore[attr-defined]


def test_env_references_become_secret_references() -> None:
    assert env_to_secrets({"a": "Bearer {{ env.TOKEN }}", "b": ["${env:X}"]}) == {
        "a": "Bearer {{ secrets.TOKEN }}",
        "b": ["{{ secrets.X }}"],
    }


@pytest.mark.parametrize(
    ("body", "content_type", "fmt", "names"),
    [
        ('{"mcpServers": {"a": {}}}', "application/json", "claude", ["a"]),
        ('{"servers": {"b": {}}}', "application/json", "vscode", ["b"]),
        ('{"mcp": {"servers": {"c": {}}}}', None, "vscode", ["c"]),
        ('[{"name": "d"}]', "application/json", "generic", ["d"]),
        ('{"data": [{"name": "e"}]}', "application/json", "generic", ["e"]),
        ('[mcp.servers.f]\nurl = "https://f.example/mcp"\n', "application/toml", "toml", ["f"]),
    ],
)
def test_import_formats_are_detected(body: str, content_type: str | None, fmt: str, names: list[str]) -> None:
    detected, entries = ServerTransfer.parse(body, content_type)
    assert detected == fmt and [n for n, _ in entries] == names


@pytest.mark.parametrize(
    ("body", "content_type"),
    [("{", "application/json"), ('{"x": 1}', "application/json"), ("[mcp", "application/toml"), ("a = 1", "text/toml")],
)
def test_unreadable_documents_are_validation_errors(body: str, content_type: str) -> None:
    with pytest.raises(ValidationError):
        ServerTransfer.parse(body, content_type)


def test_receipt_previews_are_scrubbed_of_known_secret_values() -> None:
    from portico.gateway.service import Gateway
    from portico.services.receipts import preview

    class Known:
        def known_values(self, org_id: str) -> list[str]:
            return ["plain-secret-1", "-----BEGIN KEY-----\nabc\n-----END KEY-----\n"]

    gateway = Gateway(None, None, secrets=Known())  # type: ignore[arg-type]
    text = preview(
        {"q": "x plain-secret-1 y", "pem": "-----BEGIN KEY-----\nabc\n-----END KEY-----\n", "t": "pt_caller"}
    )
    scrubbed = gateway._scrubbed("org", text, "pt_caller")
    assert "plain-secret-1" not in scrubbed and "BEGIN KEY" not in scrubbed and "pt_caller" not in scrubbed
    assert scrubbed.count("[secret]") == 3
