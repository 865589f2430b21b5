"""A function's lambda_handler called directly with an API Gateway event, as Lambda would call it."""

from __future__ import annotations

import json

from functions.health import app as health
from functions.servers_get import app as servers_get
from portico import auth
from tests.factories.api import Api
from tests.factories.events import Context, rest_event
from tests.factories.orgs import OrgCtx


def test_get_server_handler_answers_an_api_gateway_event(api: Api, org: OrgCtx) -> None:
    server = api.post("/v1/mcp/servers", org.admin_key, {"name": "direct", "url": "http://a.example/mcp"}).data
    principal = auth.from_context(
        {"kind": "api_key", "principal_id": org.admin_user_id, "org_id": org.org_id, "role": "admin", "tier": "studio"}
    )
    event = rest_event(
        "GET",
        f"/v1/mcp/servers/{server['id']}",
        "/v1/mcp/servers/{server_id}",
        path_parameters={"server_id": server["id"]},
        authorizer=auth.to_context(principal),
    )
    response = servers_get.lambda_handler(event, Context())
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["data"]["id"] == server["id"]


def test_a_handler_reached_without_the_authorizer_refuses(api: Api) -> None:
    event = rest_event(
        "GET", "/v1/mcp/servers/mcp_x", "/v1/mcp/servers/{server_id}", path_parameters={"server_id": "x"}
    )
    response = servers_get.lambda_handler(event, Context())
    assert response["statusCode"] == 401


def test_health_needs_no_credentials_and_reports_components(api: Api, org: OrgCtx) -> None:
    reply = api.get("/health")
    assert reply.status == 200
    data = reply.data
    assert data["status"] == "ok" and data["components"]["main_table"]["status"] == "ok"
    assert data["counts"]["organizations"] >= 1 and data["version"]
    assert "AWS_SECRET_ACCESS_KEY" not in json.dumps(reply.body)
    assert health.lambda_handler(rest_event("GET", "/health", "/health"), Context())["statusCode"] == 200


def test_unknown_routes_and_methods(api: Api, org: OrgCtx) -> None:
    assert api.get("/v1/nope", org.admin_key).status == 404
    assert api.call("PUT", "/v1/org", org.admin_key, json_body={}).status == 405
