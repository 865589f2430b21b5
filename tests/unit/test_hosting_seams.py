"""The seams hosting relies on: moto's private Lambda invocation hook, and the state machines' contract
with the hosting service and the template."""

from __future__ import annotations

import inspect
import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from portico.local.template import Template

ROOT = Path(__file__).resolve().parents[2]
MACHINES = sorted((ROOT / "infra" / "statemachines").glob("*.asl.json"))


def test_motos_lambda_invocation_seam_is_where_the_local_runtime_expects_it() -> None:
    from moto.awslambda.models import LambdaFunction

    # A moved or renamed seam must fail here, not silently leave state machines without Lambda tasks.
    assert list(inspect.signature(LambdaFunction._invoke_lambda).parameters) == ["self", "event"]
    assert "self._invoke_lambda(event=" in inspect.getsource(LambdaFunction.invoke)


class _Handlers:
    """Stands in for the runtime's functions: echoes the event, or fails like a raising handler."""

    functions = {"Echo": None, "Broken": None}

    def invoke(self, name: str, event: Any) -> Any:
        if name == "Broken":
            raise ValueError("the handler raised")
        return {"echo": event}


@mock_aws
def test_a_lambda_invocation_in_moto_reaches_the_local_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.awslambda.models import LambdaFunction

    from portico.local.invoke import InvokeServer
    from portico.local.moto_process import route_lambda_invocations

    monkeypatch.setattr(LambdaFunction, "_invoke_lambda", LambdaFunction._invoke_lambda)  # restored afterwards
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)  # a runtime in this worker points boto3 at its moto
    server = InvokeServer()
    server.lambdas = _Handlers()  # type: ignore[assignment]
    server.start()
    try:
        route_lambda_invocations(server.url, server.token)
        iam = boto3.client("iam", region_name="us-east-1")
        role = iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as z:
            z.writestr("app.py", "")
        lam = boto3.client("lambda", region_name="us-east-1")
        for name in ("Echo", "Broken"):
            lam.create_function(
                FunctionName=name,
                Runtime="python3.13",
                Role=role,
                Handler="app.h",
                Code={"ZipFile": archive.getvalue()},
            )
        ok = lam.invoke(FunctionName="Echo", Payload=json.dumps({"step": "begin"}))
        assert "FunctionError" not in ok and json.loads(ok["Payload"].read()) == {"echo": {"step": "begin"}}
        failed = lam.invoke(FunctionName="Broken", Payload=b"{}")
        assert failed.get("FunctionError")
        assert json.loads(failed["Payload"].read())["errorMessage"] == "the handler raised"
    finally:
        server.stop()


@pytest.mark.parametrize("path", MACHINES, ids=lambda p: p.name)
def test_every_state_machine_task_is_a_hosting_step_and_every_substitution_is_declared(path: Path) -> None:
    from portico.services.hosting import HostingService

    text = path.read_text()
    definition = json.loads(text)  # valid JSON before substitution, too
    steps = {
        state["Parameters"]["step"]
        for state in definition["States"].values()
        if state["Type"] == "Task" and "step" in state.get("Parameters", {})
    }
    assert steps and all(hasattr(HostingService, f"_step_{s}") for s in steps), steps
    template = Template.from_file(ROOT / "template.yaml", "us-east-1")
    declared = [
        r["Properties"]
        for r in template.of_type("AWS::Serverless::StateMachine").values()
        if r["Properties"]["DefinitionUri"] == f"infra/statemachines/{path.name}"
    ]
    assert len(declared) == 1
    assert set(re.findall(r"\$\{(\w+)\}", text)) <= set(declared[0]["DefinitionSubstitutions"])
    for state in definition["States"].values():  # every failure is caught and marks the server
        if state["Type"] == "Task" and state["Parameters"].get("step") != "fail":
            assert any(c["Next"] == "MarkError" for c in state.get("Catch", [])), state
