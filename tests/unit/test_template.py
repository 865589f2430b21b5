"""template.yaml is the one source of truth: every function is declared, routed and lint-clean."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from portico.local.template import Template

ROOT = Path(__file__).resolve().parents[2]


def template() -> Template:
    return Template.from_file(ROOT / "template.yaml", "us-east-1", {"Stage": "test"})


def test_every_function_directory_is_declared_and_every_declaration_has_code() -> None:
    declared = {f.code_uri.strip("/") for f in template().functions().values()}
    on_disk = {f"functions/{p.parent.name}" for p in (ROOT / "functions").glob("*/app.py")}
    assert declared == on_disk


def test_every_route_is_unique_and_only_discovery_and_login_skip_the_authorizer() -> None:
    routes = template().api_routes()
    keys = [(r.method, r.path) for r in routes]
    assert len(keys) == len(set(keys))
    assert sorted(r.path for r in routes if not r.authorized) == [
        "/.well-known/oauth-protected-resource",
        "/health",
        "/v1/auth/login",
    ]
    assert template().authorizer_function() == "AuthorizerFunction"


def test_each_handler_serves_the_route_the_template_gives_it() -> None:
    tpl = template()
    for route in tpl.api_routes():
        code = tpl.functions()[route.function].code_uri
        source = (ROOT / code / "app.py").read_text()
        if "app = api()" not in source:
            continue  # a raw handler (the MCP endpoint) serves every event the template routes to it
        powertools_path = route.path.replace("{", "<").replace("}", ">")
        assert f'@app.{route.method.lower()}("{powertools_path}")' in source, route


def test_functions_share_one_environment() -> None:
    # The local runtime runs handlers in one process: their environments must agree.
    envs = [json.dumps(f.environment, sort_keys=True) for f in template().functions().values()]
    assert len(set(envs)) == 1


def test_the_translated_template_is_valid_cloudformation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    from cfnlint.api import ManualArgs, lint
    from cfnlint.helpers import REGIONS
    from samtranslator.translator.transform import transform

    raw = copy.deepcopy(template().raw)
    for resource in raw["Resources"].values():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri", "DefinitionUri"):
            if key in props:
                props[key] = "s3://bucket/key"

    class NoPolicies:
        def load(self) -> dict[str, str]:
            return {"AWSLambdaBasicExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"}

    translated = transform(raw, {}, NoPolicies())
    assert any(r["Type"] == "AWS::ApiGateway::RestApi" for r in translated["Resources"].values())
    # Every region and rule (as cfnlint's lint_all), but the China partition: it has no Cognito user pools.
    regions = [r for r in REGIONS if not r.startswith("cn-")]
    config = ManualArgs(include_checks=["I"], include_experimental=True, regions=regions)
    errors = [m for m in lint(json.dumps(translated), config=config) if m.rule.id.startswith("E")]
    # Hosting builds git sources with CodeBuild, which a few regions do not offer: those regions are not targets.
    errors = [m for m in errors if not (m.rule.id == "E3006" and "'AWS::CodeBuild::Project'" in m.message)]
    assert errors == []


def test_the_dependency_layer_matches_the_lock() -> None:
    import subprocess
    import sys

    check = subprocess.run([sys.executable, str(ROOT / "infra" / "deps_layer.py"), "--check"], check=False)
    assert check.returncode == 0, "layers/deps/requirements.txt is stale: run infra/deps_layer.py"
