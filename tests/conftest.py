"""Shared fixtures: one in-process local Portico per test worker, real downstream MCP servers."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from portico.local.runtime import LocalRuntime
from tests.factories import processes
from tests.factories.api import Api
from tests.factories.orgs import OrgCtx, new_org


@pytest.fixture(scope="session")
def runtime() -> Iterator[LocalRuntime]:
    # Short downstream bounds keep failure-path tests quick; the defaults are for real networks.
    os.environ["PORTICO_DOWNSTREAM_TIMEOUT"] = "4"
    os.environ["PORTICO_DOWNSTREAM_CONNECT_TIMEOUT"] = "2"
    rt = LocalRuntime(port=0, retry_delay=0)
    rt.start()
    yield rt
    rt.stop()


@pytest.fixture(scope="session")
def api(runtime: LocalRuntime) -> Api:
    assert runtime.gateway is not None
    return Api(runtime.gateway)


@pytest.fixture(scope="session")
def operator_key(runtime: LocalRuntime) -> str:
    from portico.wiring import identity

    return identity().create_operator_key("test operator")[1]


@pytest.fixture
def org(api: Api, operator_key: str) -> OrgCtx:
    """A fresh studio-tier organization with its admin key."""
    return new_org(api, operator_key, "studio")


@pytest.fixture
def other_org(api: Api, operator_key: str) -> OrgCtx:
    return new_org(api, operator_key, "studio")


@pytest.fixture(scope="session")
def demo_http_url() -> Iterator[str]:
    port = processes.free_port()
    with processes.demo_server("streamable-http", port):
        yield f"http://127.0.0.1:{port}/mcp"


@pytest.fixture(scope="session")
def demo_sse_url() -> Iterator[str]:
    port = processes.free_port()
    with processes.demo_server("sse", port):
        yield f"http://127.0.0.1:{port}/sse"


@pytest.fixture(scope="session")
def everything_url() -> Iterator[str]:
    with processes.server_everything() as url:
        yield url


@pytest.fixture(scope="session")
def black_hole_url() -> Iterator[str]:
    port = processes.free_port()
    with processes.black_hole(port):
        yield f"http://127.0.0.1:{port}/mcp"


@pytest.fixture
def closed_port_url() -> str:
    return f"http://127.0.0.1:{processes.free_port()}/mcp"
