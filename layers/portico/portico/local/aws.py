"""moto in-process, and the template's resources created in it."""

from __future__ import annotations

import contextlib
import io
import json
import os
import secrets
import select
import subprocess
import sys
import zipfile
from functools import cache
from pathlib import Path
from typing import Any

from portico.local.template import ACCOUNT, Template
from portico.observability import logger

LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}


class Moto:
    """moto's server in a child process on 127.0.0.1 (a free port), stopped with the runtime.

    A separate process, not a thread: moto's EventBridge and DynamoDB work is CPU-heavy, and in-process
    it would compete with the handlers for one interpreter lock. The child dies with its parent.
    """

    def __init__(self) -> None:
        self.url = ""
        self._process: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 60.0, env: dict[str, str] | None = None) -> str:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "portico.local.moto_process"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            preexec_fn=die_with_parent,
            # Its own session: a Ctrl+C or a group signal reaches Portico, which flushes what it still
            # buffers into moto before stopping it.
            start_new_session=True,
        )
        assert self._process.stdout is not None
        ready, _, _ = select.select([self._process.stdout], [], [], timeout)
        line = self._process.stdout.readline() if ready else ""
        if not line.startswith("listening "):
            self.stop()
            raise RuntimeError("moto did not start")
        self.url = f"http://127.0.0.1:{int(line.split()[1])}"
        return self.url

    def stop(self) -> None:
        if self._process is not None:
            stop_child(self._process)


def stop_child(process: subprocess.Popen[Any]) -> None:
    """Stop a child process of the runtime: SIGTERM, then SIGKILL if it has not exited within 10 s."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def die_with_parent() -> None:
    """In the child: receive SIGTERM when the parent dies, however it dies (Linux prctl PR_SET_PDEATHSIG)."""
    import ctypes
    import signal

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def point_boto3_at(endpoint: str | None, region: str) -> None:
    """Environment for boto3 in this process (the handlers read it through Settings)."""
    if endpoint:
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        for name, value in LOCAL_CREDENTIALS.items():
            os.environ.setdefault(name, value)
    os.environ["AWS_REGION"] = region
    os.environ["AWS_DEFAULT_REGION"] = region


@cache
def _session() -> Any:
    import boto3

    return boto3.session.Session()  # one session: its loaded service models are shared by every client


@cache
def _client(service: str, endpoint: str | None, region: str) -> Any:
    return _session().client(service, region_name=region, endpoint_url=endpoint)


def _arn(service: str, region: str, resource: str) -> str:
    return f"arn:aws:{service}:{region}:{ACCOUNT}:{resource}"


def create_resources(template: Template, endpoint: str | None) -> None:
    """Create tables, queues, buses and rules the template declares; record their physical ids.

    Order matters only where one resource refers to another (a queue's DLQ, a rule's target).
    """
    region = template.region
    ddb = _client("dynamodb", endpoint, region)
    sqs = _client("sqs", endpoint, region)
    events = _client("events", endpoint, region)

    for logical, res in template.of_type("AWS::DynamoDB::Table").items():
        props = template.resolve(res["Properties"])
        name = props.get("TableName") or f"portico-local-{logical}"
        request = {
            k: props[k]
            for k in ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "LocalSecondaryIndexes")
            if k in props
        }
        ddb.create_table(TableName=name, BillingMode=props.get("BillingMode", "PAY_PER_REQUEST"), **request)
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            ddb.update_time_to_live(
                TableName=name, TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True}
            )
        template.physical[logical] = {"Ref": name, "Arn": _arn("dynamodb", region, f"table/{name}")}

    queues = template.of_type("AWS::SQS::Queue")
    # Dead-letter queues first: others refer to them.
    for logical in sorted(queues, key=lambda q: "RedrivePolicy" in queues[q].get("Properties", {})):
        props = template.resolve(queues[logical].get("Properties", {}))
        name = props.get("QueueName") or f"portico-local-{logical}"
        attributes = {
            k: (json.dumps(props[k]) if isinstance(props[k], dict) else str(props[k]))
            for k in ("VisibilityTimeout", "MessageRetentionPeriod", "RedrivePolicy", "DelaySeconds")
            if k in props
        }
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        template.physical[logical] = {"Ref": url, "Arn": _arn("sqs", region, name), "QueueName": name, "QueueUrl": url}

    for logical, res in template.of_type("AWS::Events::EventBus").items():
        name = template.resolve(res["Properties"])["Name"]
        arn = events.create_event_bus(Name=name)["EventBusArn"]
        template.physical[logical] = {"Ref": name, "Arn": arn, "Name": name}

    for logical, res in template.of_type("AWS::Events::Rule").items():
        raw_props = res["Properties"]
        bus = template.resolve(raw_props.get("EventBusName", "default"))
        name = f"portico-local-{logical}"
        arn = events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps(raw_props["EventPattern"]))[
            "RuleArn"
        ]
        template.physical[logical] = {"Ref": name, "Arn": arn}
        targets = [{"Id": t["Id"], "Arn": template.resolve(t["Arn"])} for t in raw_props.get("Targets", [])]
        # moto fails every PutEvents on a bus whose rule targets a Lambda or state machine: SQS only.
        targets = [t for t in targets if ":sqs:" in t["Arn"]]
        if targets:
            events.put_targets(Rule=name, EventBusName=bus, Targets=targets)

    for logical, res in template.of_type("AWS::Events::Archive").items():
        props = template.resolve(res["Properties"])
        try:
            events.create_archive(
                ArchiveName=props["ArchiveName"],
                EventSourceArn=props["SourceArn"],
                EventPattern=json.dumps(props.get("EventPattern", {})),
                RetentionDays=int(props.get("RetentionDays", 0)),
            )
        except events.exceptions.ClientError as exc:  # archives are a cloud nicety; locally optional
            logger.warning("archive not created locally", archive=logical, error=str(exc))
        template.physical[logical] = {"Ref": props["ArchiveName"]}

    _create_user_pools(template, endpoint)

    # Hosting: the log group hosted servers write to and the ECS cluster and image repository exist in moto
    # too; VPC-bound parts (security groups, the Cloud Map namespace) and CodeBuild are cloud-only.
    logs = _client("logs", endpoint, region)
    for logical, res in template.of_type("AWS::Logs::LogGroup").items():
        props = template.resolve(res.get("Properties", {}))
        name = props.get("LogGroupName") or f"/portico-local/{logical}"
        logs.create_log_group(logGroupName=name)
        if props.get("RetentionInDays"):
            logs.put_retention_policy(logGroupName=name, retentionInDays=int(props["RetentionInDays"]))
        template.physical[logical] = {"Ref": name, "Arn": _arn("logs", region, f"log-group:{name}:*")}

    for logical, res in template.of_type("AWS::ECS::Cluster").items():
        props = template.resolve(res.get("Properties", {}))
        cluster = _client("ecs", endpoint, region).create_cluster(
            clusterName=props.get("ClusterName") or f"portico-local-{logical}"
        )["cluster"]
        template.physical[logical] = {"Ref": cluster["clusterName"], "Arn": cluster["clusterArn"]}

    for logical, res in template.of_type("AWS::ECR::Repository").items():
        props = template.resolve(res.get("Properties", {}))
        repository = _client("ecr", endpoint, region).create_repository(
            repositoryName=props.get("RepositoryName") or f"portico-local-{logical.lower()}"
        )["repository"]
        template.physical[logical] = {
            "Ref": repository["repositoryName"],
            "Arn": repository["repositoryArn"],
            "RepositoryUri": repository["repositoryUri"],
        }

    secretsmanager = _client("secretsmanager", endpoint, region)
    for logical, res in template.of_type("AWS::SecretsManager::Secret").items():
        props = template.resolve(res["Properties"])
        value = props.get("SecretString") or secrets.token_urlsafe(48)  # GenerateSecretString, locally
        arn = secretsmanager.create_secret(Name=props["Name"], SecretString=value)["ARN"]
        template.physical[logical] = {"Ref": arn, "Arn": arn, "Id": arn}

    _create_state_machines(template, endpoint)

    # Names the template refers to that need no local resource.
    for logical, res in template.resources.items():
        template.physical.setdefault(
            logical, {"Ref": f"portico-local-{logical}", "Arn": _arn("lambda", region, f"function:{logical}")}
        )
        if res.get("Type") == "AWS::Serverless::Api":
            template.physical[logical]["RootResourceId"] = "root"


def _create_user_pools(template: Template, endpoint: str | None) -> None:
    """Cognito user pools and their app clients, with the template's password policy and auth flows."""
    pools = template.of_type("AWS::Cognito::UserPool")
    if not pools:
        return
    region = template.region
    cognito = _client("cognito-idp", endpoint, region)
    for logical, res in pools.items():
        props = template.resolve(res.get("Properties", {}))
        request = {
            k: props[k]
            for k in ("Policies", "AdminCreateUserConfig", "UsernameConfiguration", "MfaConfiguration")
            if k in props
        }
        pool = cognito.create_user_pool(PoolName=props.get("UserPoolName") or f"portico-local-{logical}", **request)
        pool_id = pool["UserPool"]["Id"]
        template.physical[logical] = {
            "Ref": pool_id,
            "Arn": pool["UserPool"].get("Arn") or _arn("cognito-idp", region, f"userpool/{pool_id}"),
            "ProviderName": f"cognito-idp.{region}.amazonaws.com/{pool_id}",
            "ProviderURL": f"https://cognito-idp.{region}.amazonaws.com/{pool_id}",
            "UserPoolId": pool_id,
        }
    for logical, res in template.of_type("AWS::Cognito::UserPoolClient").items():
        props = template.resolve(res.get("Properties", {}))
        request = {
            k: props[k]
            for k in (
                "ExplicitAuthFlows",
                "PreventUserExistenceErrors",
                "EnableTokenRevocation",
                "AccessTokenValidity",
                "IdTokenValidity",
                "RefreshTokenValidity",
                "TokenValidityUnits",
            )
            if k in props
        }
        created = cognito.create_user_pool_client(
            UserPoolId=props["UserPoolId"],
            ClientName=props.get("ClientName") or f"portico-local-{logical}",
            GenerateSecret=bool(props.get("GenerateSecret", False)),
            **request,
        )
        template.physical[logical] = {
            "Ref": created["UserPoolClient"]["ClientId"],
            "ClientId": created["UserPoolClient"]["ClientId"],
        }


def _create_state_machines(template: Template, endpoint: str | None) -> None:
    """State machines with their DefinitionSubstitutions, and the Lambda functions their tasks invoke.

    moto runs the definitions (Step Functions execution is switched on for it); a Lambda task reaches
    moto's Lambda, whose invocation the moto process hands to the local runtime (``moto_process``).
    """
    machines = template.of_type("AWS::Serverless::StateMachine")
    if not machines:
        return
    region = template.region
    functions = template.of_type("AWS::Serverless::Function")
    invoked = {
        ref[0]
        for res in machines.values()
        for value in res["Properties"].get("DefinitionSubstitutions", {}).values()
        if isinstance(value, dict) and isinstance(ref := value.get("Fn::GetAtt"), list) and ref[0] in functions
    }
    iam = _client("iam", endpoint, region)
    role = iam.create_role(
        RoleName="portico-local-tasks",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    lam = _client("lambda", endpoint, region)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("app.py", "# runs in the local runtime, not here\n")
    for logical in sorted(invoked):
        arn = lam.create_function(
            FunctionName=logical,
            Runtime="python3.13",
            Role=role,
            Handler="app.lambda_handler",
            Code={"ZipFile": archive.getvalue()},
            Timeout=int(functions[logical].get("Properties", {}).get("Timeout", 30)),
        )["FunctionArn"]
        template.physical[logical] = {"Ref": logical, "Arn": arn}
    sfn = _client("stepfunctions", endpoint, region)
    root = Path(template.path).parent if template.path else Path.cwd()
    for logical, res in machines.items():
        props = res["Properties"]
        text = (root / props["DefinitionUri"]).read_text()
        for name, value in template.resolve(props.get("DefinitionSubstitutions", {})).items():
            text = text.replace("${" + name + "}", str(value))
        name = template.resolve(props.get("Name")) or f"portico-local-{logical}"
        arn = sfn.create_state_machine(name=name, definition=text, roleArn=role)["stateMachineArn"]
        template.physical[logical] = {"Ref": arn, "Arn": arn, "Name": name}


def enable_step_functions(endpoint: str) -> None:
    """Switch on moto's Step Functions interpreter (server mode: its ``/moto-api/config``)."""
    import urllib.request

    request = urllib.request.Request(
        f"{endpoint}/moto-api/config",
        data=json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()
