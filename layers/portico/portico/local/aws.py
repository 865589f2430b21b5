"""moto in-process, and the template's resources created in it."""

from __future__ import annotations

import json
import os
import threading
from typing import Any

from portico.local.template import ACCOUNT, Template
from portico.observability import logger

LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}


def _atomic_dynamodb(app: Any) -> Any:
    """Serialize DynamoDB requests: moto's conditional writes and transactions are not atomic across
    its request threads, while DynamoDB's are. Other services (SQS long polls) stay concurrent."""
    lock = threading.Lock()

    def wrapped(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            with lock:
                return list(app(environ, start_response))
        return app(environ, start_response)

    return wrapped


class Moto:
    """A moto server on 127.0.0.1 (a free port), stopped with the runtime."""

    def __init__(self) -> None:
        import logging

        from moto.moto_server.threaded_moto_server import ThreadedMotoServer
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per AWS call otherwise

        class Server(ThreadedMotoServer):
            def _server_entry(self) -> None:
                app = _atomic_dynamodb(DomainDispatcherApplication(create_backend_app))
                self._server = make_server(self._ip_address, self._port, app, True, request_handler=MotoRequestHandler)
                self._server_ready_event.set()
                self._server.serve_forever()

        self._server = Server(ip_address="127.0.0.1", port=0, verbose=False)
        self.url = ""

    def start(self) -> str:
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        return self.url

    def stop(self) -> None:
        self._server.stop()


def point_boto3_at(endpoint: str | None, region: str) -> None:
    """Environment for boto3 in this process (the handlers read it through Settings)."""
    if endpoint:
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        for name, value in LOCAL_CREDENTIALS.items():
            os.environ.setdefault(name, value)
    os.environ["AWS_REGION"] = region
    os.environ["AWS_DEFAULT_REGION"] = region


def _client(service: str, endpoint: str | None, region: str) -> Any:
    import boto3

    return boto3.session.Session().client(service, region_name=region, endpoint_url=endpoint)


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

    # Names the template refers to that need no local resource.
    for logical, res in template.resources.items():
        template.physical.setdefault(
            logical, {"Ref": f"portico-local-{logical}", "Arn": _arn("lambda", region, f"function:{logical}")}
        )
        if res.get("Type") == "AWS::Serverless::Api":
            template.physical[logical]["RootResourceId"] = "root"
