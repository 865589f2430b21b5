"""Read ``template.yaml``: its resources, functions, API routes and event sources, with intrinsics resolved.

The template is the one source of truth; the local runtime creates what it declares.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

ACCOUNT = "123456789012"


class _Loader(yaml.SafeLoader):
    pass


def _tag(loader: _Loader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_Loader.add_multi_constructor("!", _tag)


def load(path: Path) -> dict[str, Any]:
    return dict(yaml.load(path.read_text(), Loader=_Loader))


@dataclass
class ApiRoute:
    function: str
    method: str
    path: str
    authorized: bool

    @cached_property
    def pattern(self) -> re.Pattern[str]:
        regex = re.sub(r"\{(\w+)\+?\}", lambda m: f"(?P<{m.group(1)}>[^/]+)", self.path)
        return re.compile(f"^{regex}/?$")


@dataclass
class SqsSource:
    function: str
    queue: str
    batch_size: int
    batching_window: int
    report_failures: bool


@dataclass
class Function:
    logical_id: str
    code_uri: str
    handler: str
    environment: dict[str, str]
    timeout: int


@dataclass
class Template:
    """A parsed template with intrinsics resolvable against local physical resources."""

    raw: dict[str, Any]
    region: str = "us-east-1"
    parameters: dict[str, str] = field(default_factory=dict)
    physical: dict[str, dict[str, str]] = field(default_factory=dict)
    path: str = ""  # the template file (files it names, like DefinitionUri, are relative to it)

    @classmethod
    def from_file(cls, path: Path, region: str, overrides: dict[str, str] | None = None) -> Template:
        raw = load(path)
        params = {k: str(v.get("Default", "")) for k, v in raw.get("Parameters", {}).items()}
        params.update(overrides or {})
        return cls(raw=raw, region=region, parameters=params, path=str(path))

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return dict(self.raw.get("Resources", {}))

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v.get("Type") == kind}

    # ------------------------------------------------------------ intrinsics
    def _pseudo(self, name: str) -> str | None:
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::StackName": "portico-local",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": "",
        }.get(name)

    def ref(self, name: str) -> str:
        if name in self.parameters:
            return self.parameters[name]
        pseudo = self._pseudo(name)
        if pseudo is not None:
            return pseudo
        return self.physical.get(name, {}).get("Ref", name)

    def get_att(self, name: str, attribute: str) -> str:
        value = self.physical.get(name, {}).get(attribute)
        if value is None:
            raise KeyError(f"{name}.{attribute} is not known locally")
        return value

    def resolve(self, value: Any) -> Any:
        """Resolve Ref, GetAtt, Sub and Join against parameters and local physical ids."""
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                parts = arg if isinstance(arg, list) else str(arg).split(".", 1)
                return self.get_att(parts[0], parts[1])
            if key == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
                resolved = {k: self.resolve(v) for k, v in variables.items()}
                return re.sub(r"\$\{([^}]+)\}", lambda m: self._sub(m.group(1), resolved), text)
            if key == "Fn::Join":
                items = self.resolve(arg[1])
                if isinstance(items, str):  # a CommaDelimitedList parameter: locally its comma-joined text
                    items = [i for i in items.split(",") if i]
                return str(arg[0]).join(str(v) for v in items)
            if key == "Fn::If":
                return self.resolve(arg[1] if self.condition(arg[0]) else arg[2])
        return {k: self.resolve(v) for k, v in value.items()}

    def condition(self, name: str) -> bool:
        return bool(self._evaluate(self.raw.get("Conditions", {})[name]))

    def _evaluate(self, expr: Any) -> Any:
        if isinstance(expr, dict) and len(expr) == 1:
            ((key, arg),) = expr.items()
            if key == "Fn::Equals":
                return self.resolve(arg[0]) == self.resolve(arg[1])
            if key == "Fn::Not":
                return not self._evaluate(arg[0])
            if key == "Fn::And":
                return all(self._evaluate(a) for a in arg)
            if key == "Fn::Or":
                return any(self._evaluate(a) for a in arg)
            if key == "Condition":
                return self.condition(arg)
        return self.resolve(expr)

    def gateway_responses(self) -> dict[str, dict[str, Any]]:
        """API Gateway's own responses (401, 403, …) as the template declares them."""
        out = {}
        for resource in self.of_type("AWS::ApiGateway::GatewayResponse").values():
            props = resource["Properties"]
            headers = {}
            for key, value in (props.get("ResponseParameters") or {}).items():
                if key.startswith("gatewayresponse.header."):
                    headers[key.rsplit(".", 1)[1]] = str(self.resolve(value)).strip("'")
            out[props["ResponseType"]] = {
                "status": int(props.get("StatusCode") or 0) or None,
                "body": (props.get("ResponseTemplates") or {}).get("application/json"),
                "headers": headers,
            }
        return out

    def _sub(self, name: str, variables: dict[str, Any]) -> str:
        if name in variables:
            return str(variables[name])
        if "." in name:
            resource, attribute = name.split(".", 1)
            return self.get_att(resource, attribute)
        return self.ref(name)

    # ------------------------------------------------------------ functions and their events
    def functions(self) -> dict[str, Function]:
        globals_ = self.raw.get("Globals", {}).get("Function", {})
        global_env = globals_.get("Environment", {}).get("Variables", {})
        out = {}
        for logical, resource in self.of_type("AWS::Serverless::Function").items():
            props = resource.get("Properties", {})
            env = {**global_env, **props.get("Environment", {}).get("Variables", {})}
            out[logical] = Function(
                logical_id=logical,
                code_uri=str(props.get("CodeUri", globals_.get("CodeUri", ""))),
                handler=str(props.get("Handler", globals_.get("Handler", "app.lambda_handler"))),
                environment={k: str(self.resolve(v)) for k, v in env.items()},
                timeout=int(props.get("Timeout", globals_.get("Timeout", 3))),
            )
        return out

    def api_routes(self) -> list[ApiRoute]:
        routes = []
        for logical, resource in self.of_type("AWS::Serverless::Function").items():
            for event in resource.get("Properties", {}).get("Events", {}).values():
                if event.get("Type") != "Api":
                    continue
                props = event["Properties"]
                authorizer = (props.get("Auth") or {}).get("Authorizer")
                routes.append(ApiRoute(logical, str(props["Method"]).upper(), str(props["Path"]), authorizer != "NONE"))
        # Literal segments win over parameters, as in API Gateway.
        routes.sort(key=lambda r: (r.path.count("{"), -len(r.path)))
        return routes

    def authorizer_function(self) -> str | None:
        for resource in self.of_type("AWS::Serverless::Api").values():
            for spec in resource.get("Properties", {}).get("Auth", {}).get("Authorizers", {}).values():
                arn = spec.get("FunctionArn", {})
                if "Fn::GetAtt" in arn:
                    return str(arn["Fn::GetAtt"][0])
        return None

    def sqs_sources(self) -> list[SqsSource]:
        sources = []
        for logical, resource in self.of_type("AWS::Serverless::Function").items():
            for event in resource.get("Properties", {}).get("Events", {}).values():
                if event.get("Type") != "SQS":
                    continue
                props = event["Properties"]
                queue = props["Queue"]
                queue_logical = queue["Fn::GetAtt"][0] if isinstance(queue, dict) else str(queue)
                sources.append(
                    SqsSource(
                        function=logical,
                        queue=queue_logical,
                        batch_size=int(props.get("BatchSize", 10)),
                        batching_window=int(props.get("MaximumBatchingWindowInSeconds", 0)),
                        report_failures="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
                    )
                )
        return sources
