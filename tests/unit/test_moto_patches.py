"""The local runtime's fixes to moto's cost per event (see ``portico.local.moto_process``): each must keep
moto's behaviour, and the seams they replace must still be where moto calls them."""

from __future__ import annotations

import inspect
import json
import time

import boto3
import pytest
from moto import mock_aws


def test_the_seams_the_patches_replace_are_where_moto_calls_them() -> None:
    from moto.events.utils import EventTemplateParser
    from moto.sqs import models

    # EventBridge imports jsonpath_ng.ext.parse at call time (so the memoized one is used).
    assert "from jsonpath_ng.ext import parse" in inspect.getsource(EventTemplateParser.parse)
    assert "self.is_message_valid_based_on_retention_period(" in inspect.getsource(models.SQSBackend.receive_message)
    assert "unix_time_millis()" in inspect.getsource(models.Message)


def test_memoized_jsonpath_parses_once_and_finds_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    import jsonpath_ng.ext

    from portico.local.moto_process import cache_jsonpath

    monkeypatch.setattr(jsonpath_ng.ext, "parse", jsonpath_ng.ext.parse)  # restored afterwards
    cache_jsonpath()
    first, second = jsonpath_ng.ext.parse("$.detail"), jsonpath_ng.ext.parse("$.detail")
    assert first is second
    assert [m.value for m in first.find({"detail": {"a": 1}})] == [{"a": 1}]


@mock_aws
def test_lighter_sqs_keeps_visibility_delay_and_retention(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.sqs import models

    from portico.local.moto_process import lighter_sqs

    for name in ("unix_time", "unix_time_millis"):
        monkeypatch.setattr(models, name, getattr(models, name))
    monkeypatch.setattr(
        models.SQSBackend,
        "is_message_valid_based_on_retention_period",
        models.SQSBackend.is_message_valid_based_on_retention_period,
    )
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    lighter_sqs()
    assert abs(models.unix_time_millis() - time.time() * 1000) < 1000
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="q", Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"n": 1}))
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"n": 2}), DelaySeconds=60)
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"]) for m in got] == [{"n": 1}]  # the delayed one is not delivered yet
    # Received messages are invisible for the visibility timeout; nothing else is due.
    assert sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []) == []
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "1"
    assert attributes["ApproximateNumberOfMessagesDelayed"] == "1"
    # A message older than the queue's retention is not delivered.
    old = sqs.create_queue(QueueName="old", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
    sqs.send_message(QueueUrl=old, MessageBody="stale")
    queue = models.sqs_backends["123456789012"]["us-east-1"].get_queue("old")
    queue._messages[0].sent_timestamp -= 120_000
    assert sqs.receive_message(QueueUrl=old).get("Messages", []) == []
