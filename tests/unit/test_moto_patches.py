"""The local runtime's fixes to moto's cost per event (see ``portico.local.moto_process``): each must keep
moto's behaviour, and the seams they replace must still be where moto calls them."""

from __future__ import annotations

import inspect
import json
import time
from typing import Any

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
    # While sending, the queue's attributes are read for ContentBasedDeduplication only.
    for function in (models.SQSBackend.send_message, models.SQSBackend._validate_message, models.Queue.add_message):
        source = inspect.getsource(function)
        reads = source.count(".attributes")
        assert reads == source.count('.attributes.get("ContentBasedDeduplication")') and reads > 0
    assert "generate_receipt_handle()" in inspect.getsource(models.Message.mark_received)
    assert "self._old_receipt_handles" in inspect.getsource(models.Message.all_receipt_handles.fget)
    # An item is built attribute by attribute into a LimitedSizeDict, and that is all its __init__ does.
    from moto.dynamodb.models import dynamo_type

    item_init = inspect.getsource(dynamo_type.Item.__init__)
    assert "self.attrs = LimitedSizeDict()" in item_init and item_init.count("self.") == 4


def test_memoized_jsonpath_parses_once_and_finds_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    import jsonpath_ng.ext

    from portico.local.moto_process import cache_jsonpath

    monkeypatch.setattr(jsonpath_ng.ext, "parse", jsonpath_ng.ext.parse)  # restored afterwards
    cache_jsonpath()
    first, second = jsonpath_ng.ext.parse("$.detail"), jsonpath_ng.ext.parse("$.detail")
    assert first is second
    assert [m.value for m in first.find({"detail": {"a": 1}})] == [{"a": 1}]


@pytest.fixture
def sqs_patched(monkeypatch: pytest.MonkeyPatch) -> Any:
    """moto's SQS models with ``lighter_sqs`` applied (undone after the test)."""
    from moto.sqs import models

    from portico.local.moto_process import lighter_sqs

    for name in ("unix_time", "unix_time_millis", "generate_receipt_handle"):
        monkeypatch.setattr(models, name, getattr(models, name))
    for name in ("is_message_valid_based_on_retention_period", "send_message"):
        monkeypatch.setattr(models.SQSBackend, name, getattr(models.SQSBackend, name))
    monkeypatch.setattr(models.Queue, "attributes", models.Queue.__dict__["attributes"])
    monkeypatch.setattr(models.Queue, "delete_message", models.Queue.delete_message)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    lighter_sqs()
    return models


@mock_aws
def test_lighter_sqs_keeps_visibility_delay_and_retention(sqs_patched: Any) -> None:
    models = sqs_patched
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


@mock_aws
def test_direct_attribute_values_answer_exactly_what_moto_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.core import serialize

    from portico.local.moto_process import direct_attribute_values

    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setattr(
        serialize.BaseJSONSerializer,
        "_serialize_type_structure",
        serialize.BaseJSONSerializer._serialize_type_structure,
    )
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    ddb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk")],
        BillingMode="PAY_PER_REQUEST",
    )
    item = {
        "pk": {"S": "p"},
        "sk": {"S": "1"},
        "n": {"N": "12.5"},
        "b": {"B": b"\x00\xffbinary"},
        "ss": {"SS": ["a", "b"]},
        "ns": {"NS": ["1", "2"]},
        "bs": {"BS": [b"\x01", b"\x02"]},
        "m": {"M": {"l": {"L": [{"S": "x"}, {"M": {"deep": {"B": b"\x03"}}}, {"NULL": True}]}, "t": {"BOOL": False}}},
        "empty": {"S": ""},
    }
    ddb.put_item(TableName="t", Item=item)
    key = {"pk": {"S": "p"}, "sk": {"S": "1"}}

    def answers() -> list[object]:
        return [
            ddb.get_item(TableName="t", Key=key)["Item"],
            ddb.query(TableName="t", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "p"}})[
                "Items"
            ],
            ddb.batch_get_item(RequestItems={"t": {"Keys": [key]}})["Responses"],
            ddb.scan(TableName="t")["Items"],
            ddb.update_item(
                TableName="t",
                Key=key,
                UpdateExpression="SET n = :n",
                ExpressionAttributeValues={":n": {"N": "12.5"}},
                ReturnValues="ALL_NEW",
            )["Attributes"],
            ddb.describe_table(TableName="t")["Table"]["KeySchema"],
        ]

    before = answers()
    direct_attribute_values()
    after = answers()
    assert after == before
    assert after[0] == item  # and both are what was written (binary round-trips as bytes)


@mock_aws
def test_lighter_sqs_keeps_fifo_deduplication_and_queue_attributes(sqs_patched: Any) -> None:
    sqs = boto3.client("sqs", region_name="us-east-1")
    fifo = sqs.create_queue(QueueName="q.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"})[
        "QueueUrl"
    ]
    for _ in range(2):
        sqs.send_message(QueueUrl=fifo, MessageBody="same", MessageGroupId="g")
    strict = sqs.create_queue(QueueName="strict.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    with pytest.raises(sqs.exceptions.ClientError, match="ContentBasedDeduplication"):
        sqs.send_message(QueueUrl=strict, MessageBody="x", MessageGroupId="g")  # no deduplication id
    plain = sqs.create_queue(QueueName="plain")["QueueUrl"]
    for n in range(3):
        sqs.send_message(QueueUrl=plain, MessageBody=str(n))
    got = sqs.receive_message(QueueUrl=fifo, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in got] == ["same"]  # the duplicate was dropped
    assert len(got[0]["ReceiptHandle"]) == 185 and got[0]["ReceiptHandle"].isalpha()
    attributes = sqs.get_queue_attributes(QueueUrl=fifo, AttributeNames=["All"])["Attributes"]
    assert attributes["ContentBasedDeduplication"] == "true" and attributes["FifoQueue"] == "true"
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "1"
    counts = sqs.get_queue_attributes(QueueUrl=plain, AttributeNames=["ApproximateNumberOfMessages"])
    assert counts["Attributes"] == {"ApproximateNumberOfMessages": "3"}


def test_fewer_lookups_keep_the_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto import backends
    from moto.core import responses, utils
    from moto.sqs import models
    from moto.sqs.responses import SQSResponse

    from portico.local.moto_process import fewer_lookups

    monkeypatch.setattr(utils, "camelcase_to_underscores", utils.camelcase_to_underscores)
    monkeypatch.setattr(models, "camelcase_to_underscores", models.camelcase_to_underscores)
    monkeypatch.setattr(backends, "list_of_moto_modules", backends.list_of_moto_modules)
    monkeypatch.setattr(utils, "method_names_from_class", utils.method_names_from_class)
    monkeypatch.setattr(responses, "method_names_from_class", responses.method_names_from_class)
    listed = list(backends.list_of_moto_modules())
    methods = utils.method_names_from_class(SQSResponse)
    fewer_lookups()
    assert responses.method_names_from_class(SQSResponse) == methods and "receive_message" in methods
    for name in ("ContentBasedDeduplication", "theNewAttribute", "DBInstanceIdentifier", ""):
        assert models.camelcase_to_underscores(name) == utils.camelcase_to_underscores.__wrapped__(name)  # type: ignore[attr-defined]
    assert models.camelcase_to_underscores is utils.camelcase_to_underscores  # modules bound by name follow
    assert list(backends.list_of_moto_modules()) == listed and "sqs" in listed


def test_event_targets_render_their_default_input_as_moto_does(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.events.utils import EventTemplateParser

    from portico.local.moto_process import lighter_event_targets

    monkeypatch.setattr(EventTemplateParser, "parse", EventTemplateParser.__dict__["parse"])
    original = EventTemplateParser.parse
    base = {
        "version": "0",
        "id": "e-1",
        "detail-type": "ToolExecuted",
        "source": "portico",
        "account": "123456789012",
        "time": 1764637200.25,
        "region": "us-east-1",
        "resources": ["arn:a", "arn:b"],
        "detail": {"receipt_id": "rcpt_1", "nested": {"list": [1, "two", None]}, "text": 'quote " and \\ slash'},
        "ingestion-time": 1764637200.5,
    }
    events = [
        base,
        {**base, "resources": []},
        {**base, "detail": {}},
        {k: v for k, v in base.items() if k != "account"},
    ]
    cases = [(None, {}), ('{"only": <detail>}', {}), ('{"d": "<d>"}', {"d": "$.detail.receipt_id"})]
    expected = [original(template, paths, event) for event in events for template, paths in cases]
    lighter_event_targets()
    assert EventTemplateParser.parse is not original
    assert [
        EventTemplateParser.parse(template, paths, event) for event in events for template, paths in cases
    ] == expected


@mock_aws
def test_lighter_sqs_deletes_by_current_and_old_receipt_handles(sqs_patched: Any) -> None:
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="d", Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
    for n in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=str(n))
    first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    again = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]  # visible at once: new handles
    assert {m["Body"] for m in again} == {"0", "1", "2"}
    old = next(m for m in first if m["Body"] == "0")["ReceiptHandle"]
    current = next(m for m in again if m["Body"] == "1")["ReceiptHandle"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=old)  # an earlier handle of a message still deletes it
    sqs.delete_message(QueueUrl=url, ReceiptHandle=current)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=current)  # twice: fine, as in SQS
    with pytest.raises(sqs.exceptions.ReceiptHandleIsInvalid):
        sqs.delete_message(QueueUrl=url, ReceiptHandle="not-a-handle")
    left = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in left] == ["2"]


@mock_aws
def test_lighter_items_keep_the_size_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.dynamodb.models import dynamo_type

    from portico.local.moto_process import lighter_items

    monkeypatch.setattr(dynamo_type.Item, "__init__", dynamo_type.Item.__init__)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    lighter_items()
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    ddb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    item = {"pk": {"S": "a"}, "n": {"N": "1"}, "m": {"M": {"x": {"L": [{"S": "y"}]}}}, "big": {"S": "z" * 200_000}}
    ddb.put_item(TableName="t", Item=item)
    assert ddb.get_item(TableName="t", Key={"pk": {"S": "a"}})["Item"] == item
    # Two attributes that fit one by one but not together: refused, as by DynamoDB.
    too_big = {"pk": {"S": "b"}, "one": {"S": "x" * 203_000}, "two": {"S": "x" * 203_000}}
    with pytest.raises(ddb.exceptions.ClientError, match="Item size has exceeded"):
        ddb.put_item(TableName="t", Item=too_big)
    with pytest.raises(ddb.exceptions.ClientError, match="Item size has exceeded"):
        ddb.batch_write_item(RequestItems={"t": [{"PutRequest": {"Item": too_big}}]})
    assert "Item" not in ddb.get_item(TableName="t", Key={"pk": {"S": "b"}})
