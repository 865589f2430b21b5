"""Write openapi.json: the REST API's contract, generated from the endpoint functions' routes.

Every function in ``template.yaml`` with ``Api`` events builds a validating powertools resolver; this
loads each one, asks it for its OpenAPI document and merges them (paths and component schemas), so the
checked-in document is what the code accepts. The MCP endpoint (JSON-RPC) is described by the MCP
specification, not here.

    .venv/bin/python infra/openapi.py          # rewrite openapi.json
    .venv/bin/python infra/openapi.py --check  # exit 1 if openapi.json is stale (run by the tests)
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

from portico.errors import HTTP_STATUS as HTTP_STATUS_CODES

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "openapi.json"
TEMPLATE = ROOT / "template.yaml"

SECURITY_SCHEMES = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key (`key_….pts_…`), a login access token, or a server connect token.",
    },
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-KEY", "description": "With X-API-SECRET."},
}


def _resolvers() -> list[tuple[str, str, Any]]:
    """(function directory, its docstring, resolver) for every REST function of the template, in template order."""
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver

    from portico.local.template import load

    resources = load(TEMPLATE).get("Resources", {})
    found = []
    for logical, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource.get("Properties", {})
        if not any(e.get("Type") == "Api" for e in (props.get("Events") or {}).values()):
            continue
        code = ROOT / str(props["CodeUri"])
        spec = importlib.util.spec_from_file_location(f"portico_fn_{logical}", code / "app.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        app = getattr(module, "app", None)
        if isinstance(app, APIGatewayRestResolver):
            found.append((code.name, (module.__doc__ or "").strip(), app))
    return found


ERROR = {
    "type": "object",
    "required": ["error_code", "message", "details"],
    "properties": {
        "error_code": {
            "type": "string",
            "enum": sorted(set(HTTP_STATUS_CODES)),
        },
        "message": {"type": "string"},
        "details": {"type": "object", "description": "For VALIDATION_ERROR: `field` and `fields` name the input."},
    },
}


def _request_bodies() -> dict[str, tuple[Any, ...]]:
    """Endpoints that validate a body by a field (not by the signature): the models they accept, by operation."""
    from portico.models.hosting import HostedServerCreate
    from portico.models.servers import ServerCreate

    return {"servers_create": (ServerCreate, HostedServerCreate)}


def _one_of(models: tuple[Any, ...], schemas: dict[str, Any]) -> dict[str, Any]:
    from pydantic.json_schema import models_json_schema

    refs, defs = models_json_schema([(m, "validation") for m in models], ref_template="#/components/schemas/{model}")
    for name, schema in defs.get("$defs", {}).items():
        schemas.setdefault(name, schema)  # powertools' rendering of a shared model wins
    return {"oneOf": [refs[(m, "validation")] for m in models]}


def _errors(public: bool) -> dict[str, Any]:
    ref = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    out = {"400": {"description": "VALIDATION_ERROR: the field is named in details", **ref}}
    if not public:
        out["401"] = {"description": "UNAUTHORIZED: no or bad credentials", **ref}
        out["403"] = {"description": "FORBIDDEN, TIER_REQUIRED, QUOTA_EXCEEDED or APPROVAL_REQUIRED", **ref}
        out["404"] = {"description": "RESOURCE_NOT_FOUND (also for another organization's resources)", **ref}
    return out


def render() -> str:
    from portico.local.template import load

    resources = load(TEMPLATE).get("Resources", {})
    open_routes = {
        (str(e["Properties"]["Method"]).upper(), str(e["Properties"]["Path"]))
        for r in resources.values()
        if r.get("Type") == "AWS::Serverless::Function"
        for e in (r.get("Properties", {}).get("Events") or {}).values()
        if e.get("Type") == "Api" and (e["Properties"].get("Auth") or {}).get("Authorizer") == "NONE"
    }
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {}
    bodies = _request_bodies()
    for name, doc, app in _resolvers():
        document = json.loads(app.get_openapi_json_schema(title="Portico", version="1"))
        for path, operations in document.get("paths", {}).items():
            for method, operation in operations.items():
                public = (method.upper(), path) in open_routes
                operation["operationId"] = name
                operation["summary"] = doc.split(": ", 1)[-1].splitlines()[0] if doc else operation["summary"]
                responses = operation.get("responses", {})
                responses.pop("422", None)  # Portico answers invalid input with 400, never 422
                operation["responses"] = {**responses, **_errors(public)}
                if public:
                    operation["security"] = []
                paths.setdefault(path, {})[method] = operation
        for schema_name, schema in document.get("components", {}).get("schemas", {}).items():
            if schema_name in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
                continue
            if schemas.setdefault(schema_name, schema) != schema:
                raise SystemExit(f"schema {schema_name} differs between functions ({name})")
    for operations in paths.values():
        for operation in operations.values():
            if operation["operationId"] in bodies:
                content = operation["requestBody"]["content"]["application/json"]
                content["schema"] = _one_of(bodies[operation["operationId"]], schemas)
    document = {
        "openapi": "3.1.0",
        "info": {
            "title": "Portico API",
            "version": "1",
            "description": 'Host, govern and serve MCP servers. Success bodies are `{"data": ...}`; errors are '
            '`{"error_code", "message", "details"}`. Generated by infra/openapi.py from the endpoint functions.',
        },
        "paths": {path: paths[path] for path in sorted(paths)},
        "components": {
            "schemas": dict(sorted({**schemas, "Error": ERROR}.items())),
            "securitySchemes": SECURITY_SCHEMES,
        },
        "security": [{"bearer": []}, {"apiKey": []}],
    }
    return json.dumps(document, indent=1, sort_keys=False) + "\n"


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        if TARGET.exists() and TARGET.read_text() == text:
            return 0
        print("openapi.json is stale: run `make openapi`", file=sys.stderr)
        return 1
    TARGET.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
