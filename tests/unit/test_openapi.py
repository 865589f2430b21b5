"""The checked-in OpenAPI document is generated from the endpoint functions and never drifts from them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from portico.local.template import Template

ROOT = Path(__file__).resolve().parents[2]


def test_openapi_document_matches_the_code() -> None:
    check = subprocess.run(
        [sys.executable, str(ROOT / "infra" / "openapi.py"), "--check"], check=False, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr


def test_openapi_document_describes_every_rest_route_of_the_template() -> None:
    document = json.loads((ROOT / "openapi.json").read_text())
    routes = Template.from_file(ROOT / "template.yaml", "us-east-1").api_routes()
    rest = {(r.method.lower(), r.path) for r in routes if not r.path.startswith("/mcp")}
    described = {(method, path) for path, ops in document["paths"].items() for method in ops}
    assert rest == described
    for method, path in rest:
        operation = document["paths"][path][method]
        assert "422" not in operation["responses"]
        assert operation["responses"]["400"]["content"]["application/json"]["schema"]["$ref"].endswith("/Error")


def test_invalid_input_is_documented_as_a_400_with_the_error_envelope() -> None:
    document = json.loads((ROOT / "openapi.json").read_text())
    error = document["components"]["schemas"]["Error"]
    assert {"error_code", "message", "details"} <= set(error["required"])
    assert "VALIDATION_ERROR" in error["properties"]["error_code"]["enum"]
    create = document["paths"]["/v1/mcp/servers"]["post"]
    variants = create["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
    assert {v["$ref"].rsplit("/", 1)[-1] for v in variants} == {"ServerCreate", "HostedServerCreate"}
    assert "source_type" in document["components"]["schemas"]["HostedServerCreate"]["properties"]
    assert document["paths"]["/health"]["get"]["security"] == []
