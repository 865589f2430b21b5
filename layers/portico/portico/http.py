"""The REST edge: a resolver factory, the principal of the request, and the one error mapping.

Every endpoint function builds its resolver with ``api()``; errors leave as
``{"error_code", "message", "details"}`` with the status from ``errors.HTTP_STATUS``.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from portico import auth
from portico.context import set_from_event
from portico.errors import HTTP_STATUS, PorticoError, RateLimitedError, UnauthorizedError
from portico.models.identity import Principal
from portico.observability import logger
from portico.repositories.events import invocation_finished

M = TypeVar("M", bound=BaseModel)
JSON = "application/json"


def _json(body: Any) -> str:
    return json.dumps(body, separators=(",", ":"), default=str)


def error_response(code: str, message: str, details: dict[str, Any] | None = None, **headers: str) -> Response:
    return Response(
        status_code=HTTP_STATUS.get(code, 500),
        content_type=JSON,
        body=_json({"error_code": code, "message": message, "details": details or {}}),
        headers=headers or None,
    )


def _field_errors(errors: list[Any]) -> tuple[str, list[dict[str, str]]]:
    fields = []
    for error in errors:
        if error.get("type") == "json_invalid":
            fields.append({"field": "body", "message": "malformed JSON"})
            continue
        loc = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path")]
        fields.append({"field": ".".join(loc) or "body", "message": str(error.get("msg", "invalid"))})
    first = fields[0] if fields else {"field": "body", "message": "invalid request"}
    return f"{first['field']}: {first['message']}", fields


def validation_response(errors: list[Any]) -> Response:
    message, fields = _field_errors(errors)
    return error_response(
        "VALIDATION_ERROR", message, {"fields": fields, "field": fields[0]["field"] if fields else None}
    )


def ok(value: Any, status: int = 200) -> Response[dict[str, Any]]:
    """A success envelope: ``{"data": value}``."""
    data = value.model_dump(mode="json") if isinstance(value, BaseModel) else value
    return Response(status_code=status, content_type=JSON, body={"data": data})


def ok_raw(value: dict[str, Any], status: int = 200) -> Response[dict[str, Any]]:
    """A bare JSON document (for well-known discovery documents, which have fixed shapes)."""
    return Response(status_code=status, content_type=JSON, body=value)


def base_url(app: APIGatewayRestResolver) -> str:
    """The public base URL of this API: configured, or derived from the request (domain + stage)."""
    from portico.context import public_base_url

    return public_base_url()


def no_content() -> Response[None]:
    return Response(status_code=204, content_type=JSON, body=None)


# Routes that also take a TOML body (a gateway configuration to import).
TOML_ROUTES = {("POST", "/v1/mcp/servers/import")}


def _not_json(event: dict[str, Any]) -> dict[str, Any] | None:
    """Bodies are JSON: say so plainly instead of failing on a form-encoded guess."""
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    content_type = headers.get("content-type", "json").lower()
    if not event.get("body") or "json" in content_type:
        return None
    if "toml" in content_type and (event.get("httpMethod"), event.get("resource")) in TOML_ROUTES:
        return None
    body = {
        "error_code": "VALIDATION_ERROR",
        "message": "send the body as JSON with Content-Type: application/json",
        "details": {"field": "Content-Type"},
    }
    return {"statusCode": 400, "headers": {"Content-Type": JSON}, "body": _json(body), "isBase64Encoded": False}


def api() -> APIGatewayRestResolver:
    """A validating REST resolver with Portico's error mapping installed."""
    app = APIGatewayRestResolver(enable_validation=True)

    @app.exception_handler(RequestValidationError)
    def _invalid(exc: RequestValidationError) -> Response:
        return validation_response(list(exc.errors()))

    @app.exception_handler(PydanticValidationError)
    def _invalid_model(exc: PydanticValidationError) -> Response:
        return validation_response(list(exc.errors()))

    @app.exception_handler(PorticoError)
    def _domain(exc: PorticoError) -> Response:
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimitedError) else {}
        if exc.code == "INTERNAL_ERROR":
            logger.exception("internal error", error_code=exc.code)
        return error_response(exc.code, exc.message, exc.details, **headers)

    @app.exception_handler(Exception)
    def _unexpected(exc: Exception) -> Response:  # the top-level edge: log, never leak
        logger.exception("unhandled error")
        return error_response("INTERNAL_ERROR", "internal error")

    @app.not_found
    def _not_found(exc: Exception) -> Response:
        return error_response("RESOURCE_NOT_FOUND", "no such route")

    return app


def principal(app: APIGatewayRestResolver) -> Principal:
    """The caller, as established by the authorizer.

    Raises:
        UnauthorizedError: the request carries no authorizer context.
    """
    context = (app.current_event.raw_event.get("requestContext") or {}).get("authorizer")
    found = auth.from_context(context)
    if found.scope_server_id is not None:  # a connect token is for one MCP endpoint, never the REST API
        raise UnauthorizedError("connect tokens are accepted on /mcp/servers/{id} only")
    return found


def query(app: APIGatewayRestResolver, model: type[M]) -> M:
    """Validate the query string into ``model`` (multi-valued parameters become lists).

    Raises:
        pydantic.ValidationError: mapped to a 400 naming the parameter.
    """
    event = app.current_event
    multi = event.multi_value_query_string_parameters or {}
    single = event.query_string_parameters or {}
    values: dict[str, Any] = dict(single)
    for name, items in multi.items():
        if len(items) > 1:
            values[name] = items
    return model.model_validate(values)


def handler(app: APIGatewayRestResolver) -> Any:
    """The Lambda entry point for ``app``, with structured request logging."""
    from aws_lambda_powertools.logging import correlation_paths

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        set_from_event(event)
        try:
            return _not_json(event) or app.resolve(event, context)
        finally:
            invocation_finished()

    return lambda_handler


def raw_body(app: APIGatewayRestResolver) -> tuple[str, str | None]:
    """The request body as text and its Content-Type (for routes that parse the body themselves)."""
    event = app.current_event
    body = event.decoded_body or ""
    return body, event.headers.get("content-type") or event.headers.get("Content-Type")


def query_param(app: APIGatewayRestResolver, name: str) -> str | None:
    """One extra query-string parameter (beyond the common list parameters)."""
    return (app.current_event.query_string_parameters or {}).get(name)
