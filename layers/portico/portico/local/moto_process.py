"""The moto server process of the local runtime: `python -m portico.local.moto_process`.

Prints ``listening <port>`` once it serves on 127.0.0.1, and exits on SIGTERM/SIGINT.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from typing import Any


def atomic_dynamodb(app: Any) -> Any:
    """Serialize DynamoDB requests: moto's conditional writes and transactions are not atomic across
    its request threads, while DynamoDB's are. Other services (SQS long polls) stay concurrent."""
    lock = threading.Lock()

    def wrapped(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            with lock:
                return list(app(environ, start_response))
        return app(environ, start_response)

    return wrapped


def cache_jsonpath() -> None:
    """Memoize ``jsonpath_ng.ext.parse``: moto's EventBridge parses eight JSONPath expressions for every
    event and target (its default input paths), and jsonpath_ng builds a new yacc parser for each parse
    — two thirds of moto's CPU under a stream of receipts. A parsed expression is immutable."""
    import functools

    import jsonpath_ng.ext

    jsonpath_ng.ext.parse = functools.lru_cache(maxsize=256)(jsonpath_ng.ext.parse)


def lighter_sqs() -> None:
    """Two costs of moto's SQS that grow with a queue's depth, so a queue that falls behind (receipts
    under load) slows its own consumer further:
    * ReceiveMessage checks each candidate's retention by computing *all* the queue's attributes, each
      of which scans every message (O(n²)): read the one attribute instead;
    * every visibility and delay check reads the clock through datetime arithmetic (a few µs each, for
      every message on every send and receive): read ``time.time()``, the same value, directly.
    """
    import string
    import time

    from moto.sqs import models

    def now_seconds(dt: Any = None) -> float:
        return time.time() if dt is None else float(original_seconds(dt))

    def now_millis(dt: Any = None) -> float:
        return time.time() * 1000.0 if dt is None else float(original_millis(dt))

    original_seconds, original_millis = models.unix_time, models.unix_time_millis
    models.unix_time, models.unix_time_millis = now_seconds, now_millis

    def is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Any) -> bool:
        retention = int(self.get_queue(queue_name).message_retention_period)
        return bool(retention + message.sent_timestamp / 1000 > time.time())

    models.SQSBackend.is_message_valid_based_on_retention_period = (  # type: ignore[method-assign]
        is_message_valid_based_on_retention_period
    )

    # SendMessage reads one attribute (ContentBasedDeduplication, FIFO queues only) through the property
    # that computes all of them, three of which scan every message: while sending, answer just that one.
    computed = models.Queue.attributes
    sending = threading.local()

    def attributes(self: Any) -> dict[str, Any]:
        if getattr(sending, "active", False):
            deduplication = str(self.content_based_deduplication).lower()
            return {"ContentBasedDeduplication": deduplication} if self.fifo_queue else {}
        return computed.fget(self)  # type: ignore[attr-defined,no-any-return]

    send = models.SQSBackend.send_message

    def send_message(self: Any, *args: Any, **kwargs: Any) -> Any:
        sending.active = True
        try:
            return send(self, *args, **kwargs)
        finally:
            sending.active = False

    # DeleteMessage scanned the queue twice, building every message's list of receipt handles each
    # time: one pass now, comparing handles directly (still O(depth), about four times cheaper).
    def delete_message(self: Any, receipt_handle: str) -> None:
        if receipt_handle in self.deleted_messages:
            return  # already deleted: deleting again is fine
        kept, found = [], False
        for message in self._messages:
            if message.receipt_handle == receipt_handle or receipt_handle in message._old_receipt_handles:
                found = True
                self.pending_messages.discard(message)
                self.deleted_messages.update(message.all_receipt_handles)
            else:
                kept.append(message)
        if not found:
            raise models.ReceiptHandleIsInvalid()
        self._messages = kept

    models.Queue.delete_message = delete_message  # type: ignore[method-assign]
    models.Queue.attributes = property(attributes)  # type: ignore[assignment,method-assign]
    models.SQSBackend.send_message = send_message  # type: ignore[method-assign]
    # A receipt handle is 185 random lowercase letters: draw them in one call rather than 185.
    models.generate_receipt_handle = lambda: "".join(models.random.choices(string.ascii_lowercase, k=185))


def fewer_lookups() -> None:
    """Lookups moto repeats on every request: ``camelcase_to_underscores`` (a character loop, called for
    each parameter and attribute name; memoized — the names are a small set), a handler class's method
    names (``inspect.getmembers``; per class) and the list of its own service packages (a directory
    listing per request, to route it; read once). Call before moto's service modules are imported: they
    bind these functions by name."""
    import functools

    from moto import backends
    from moto.core import utils

    convert = functools.lru_cache(maxsize=4096)(utils.camelcase_to_underscores)
    names_of = functools.lru_cache(maxsize=1024)(utils.method_names_from_class)
    replacements = {
        "camelcase_to_underscores": (utils.camelcase_to_underscores, convert),
        # Each request looked up its handler's method names with inspect.getmembers: once per class.
        "method_names_from_class": (utils.method_names_from_class, lambda clazz: list(names_of(clazz))),
    }
    for module in [utils, *list(sys.modules.values())]:
        if module is utils or (getattr(module, "__name__", "") or "").startswith("moto."):
            for name, (original, faster) in replacements.items():
                if getattr(module, name, None) is original:
                    setattr(module, name, faster)
    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules


def direct_attribute_values() -> None:
    """Write DynamoDB attribute values straight to the wire: moto's response serializer walks each value
    against the ten members of the ``AttributeValue`` shape, trying five key aliases per member — about
    0.25 ms per item attribute, so reading seventy tools cost ~20 ms of moto time. A value reaching the
    serializer is already ``{type: value}`` (``dynamo_to_dict``), binary as bytes: only those need encoding.
    """
    import base64

    from moto.core import serialize

    def wire(value: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for kind, inner in value.items():
            if inner is None:
                continue
            if kind == "M":
                inner = {k: wire(v) for k, v in inner.items()}
            elif kind == "L":
                inner = [wire(v) for v in inner]
            elif kind == "B":
                inner = base64.b64encode(inner).decode() if isinstance(inner, bytes) else inner
            elif kind == "BS":
                inner = [base64.b64encode(v).decode() if isinstance(v, bytes) else v for v in inner]
            out[kind] = inner
        return out

    original = serialize.BaseJSONSerializer._serialize_type_structure

    def structure(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        if shape.name == "AttributeValue" and isinstance(value, dict) and key:
            self._default_serialize(serialized, wire(value), shape, key)
            return
        original(self, serialized, value, shape, key)

    serialize.BaseJSONSerializer._serialize_type_structure = structure  # type: ignore[method-assign]


def lighter_event_targets() -> None:
    """EventBridge renders each target's input through its default template even without an input
    transformer: eight JSONPath lookups per event and target, each of a top-level field (``$.detail`` …).
    Look those up in the event directly; any other template or paths map goes through moto's own parser."""
    import json
    import re

    from moto.events.utils import EventTemplateParser

    parser = EventTemplateParser
    original = parser.parse
    fields = {name: path[2:] for name, path in parser.DEFAULT_EVENT_INPUT_PATHS_MAP.items()}
    if all(re.fullmatch(r"\$\.[\w-]+", path) for path in parser.DEFAULT_EVENT_INPUT_PATHS_MAP.values()):

        def parse(input_template: str, input_paths_map: dict[str, Any], event: Any) -> dict[str, Any]:
            if input_paths_map or not isinstance(event, dict):
                return original(input_template, input_paths_map, event)  # type: ignore[no-any-return]
            template = input_template or parser.DEFAULT_EVENT_INPUT_TEMPLATE
            for name, field in fields.items():
                result = parser._stringify(event[field]) if field in event else None
                if result:
                    template = template.replace(f"<{name}>", result)
            for name, value in (
                ("aws.events.event.json", event),
                ("aws.events.event.ingestion-time", event["ingestion-time"]),
            ):
                template = template.replace(f"<{name}>", parser._stringify(value))
            return dict(json.loads(template))

        parser.parse = staticmethod(parse)  # type: ignore[method-assign,assignment]


def lighter_items() -> None:
    """An item's 400 KB check re-summed the item's size for every attribute set while it was built:
    quadratic in its attribute count, for every item written. Build it, then check the size once — the
    same outcome, as sizes only add up (moto's limit and error, unchanged)."""
    from moto.dynamodb.models import dynamo_type

    limited, value_type = dynamo_type.LimitedSizeDict, dynamo_type.DynamoType

    def size(part: Any) -> int:
        return int(part.size() if type(part) is value_type else dynamo_type.bytesize(str(part)))

    def init(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
        self.hash_key = hash_key
        self.range_key = range_key
        built = limited()
        for key, value in attrs.items():
            dict.__setitem__(built, key, value_type(value))
        if sum(size(key) + size(value) for key, value in built.items()) > 405000:
            raise dynamo_type.ItemSizeTooLarge
        self.attrs = built

    dynamo_type.Item.__init__ = init  # type: ignore[method-assign]


def route_lambda_invocations(invoke_url: str, token: str) -> None:
    """Hand moto's Lambda invocations (a state machine's Lambda tasks) to the local runtime's handlers.

    moto runs Lambda code only in Docker; its private ``LambdaFunction._invoke_lambda(event)`` →
    ``(payload, errored, logs)`` is the one seam (moto is pinned; a unit test fails if the seam moves).
    The runtime answers ``POST /functions/<name>/invoke`` with the handler's result.
    """
    import json
    import urllib.error
    import urllib.request

    from moto.awslambda.models import LambdaFunction

    def _invoke_lambda(self: Any, event: Any = None) -> tuple[str, bool, str]:
        request = urllib.request.Request(
            f"{invoke_url}/functions/{self.function_name}/invoke",
            data=json.dumps(event if event is not None else {}).encode(),
            headers={"Content-Type": "application/json", "X-Portico-Invoke-Token": token},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=900) as response:
                return response.read().decode(), response.headers.get("X-Portico-Function-Error") is not None, ""
        except urllib.error.HTTPError as exc:
            return exc.read().decode(), True, ""
        except OSError as exc:
            failure = {"errorMessage": f"local runtime unreachable: {exc}", "errorType": "Unreachable"}
            return json.dumps(failure), True, ""

    LambdaFunction._invoke_lambda = _invoke_lambda  # type: ignore[method-assign]


def warm_up() -> None:
    """Import moto's Step Functions interpreter and Lambda models ahead of their first request (seconds of
    imports), while the runtime creates its other resources."""
    import contextlib
    import importlib

    for module in (
        "moto.stepfunctions.parser.models",
        "moto.stepfunctions.parser.asl.parse.asl_parser",
        "moto.awslambda.models",
        "moto.logs.models",
        "moto.secretsmanager.models",
    ):
        with contextlib.suppress(ImportError):
            importlib.import_module(module)


def main() -> int:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    fewer_lookups()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per AWS call otherwise

    class Handler(MotoRequestHandler):
        disable_nagle_algorithm = True  # small responses: don't wait on the client's delayed ACK

    server = make_server(
        "127.0.0.1",
        0,
        atomic_dynamodb(DomainDispatcherApplication(create_backend_app)),
        True,
        request_handler=Handler,
    )
    threading.Thread(target=warm_up, name="warm-up", daemon=True).start()
    cache_jsonpath()
    lighter_sqs()
    direct_attribute_values()
    lighter_event_targets()
    lighter_items()
    # moto's Step Functions interpreter calls the other services through this server.
    os.environ["MOTO_PORT"] = str(server.server_address[1])
    if os.environ.get("PORTICO_LOCAL_INVOKE_URL"):
        invoke_url, token = os.environ["PORTICO_LOCAL_INVOKE_URL"], os.environ.get("PORTICO_LOCAL_INVOKE_TOKEN", "")
        route_lambda_invocations(invoke_url, token)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    print(f"listening {server.server_address[1]}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
