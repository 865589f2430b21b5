"""A thin DynamoDB adapter: typed items in, typed items out, conditional writes and transactions.

Items carry their key attributes, a few top-level attributes used by key conditions and filters,
and the whole record as canonical JSON in ``doc`` (no Decimal juggling, one shape per record).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from portico.errors import ConflictError
from portico.repositories.aws import client

Item = dict[str, Any]


def _serialize(value: Any) -> dict[str, Any]:
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float):
        return {"N": str(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, list | tuple):
        return {"L": [_serialize(v) for v in value]}
    if isinstance(value, dict):
        return {"M": {k: _serialize(v) for k, v in value.items()}}
    raise TypeError(f"cannot store {type(value).__name__}")


def _deserialize(value: dict[str, Any]) -> Any:
    ((kind, raw),) = value.items()
    if kind == "S":
        return raw
    if kind == "N":
        number = float(raw)
        return int(number) if number.is_integer() and "." not in raw else number
    if kind == "BOOL":
        return raw
    if kind == "NULL":
        return None
    if kind == "L":
        return [_deserialize(v) for v in raw]
    if kind == "M":
        return {k: _deserialize(v) for k, v in raw.items()}
    if kind == "SS":
        return list(raw)
    raise TypeError(f"unsupported DynamoDB type {kind}")


def to_ddb(item: Item) -> dict[str, Any]:
    return {k: _serialize(v) for k, v in item.items() if v is not None}


def from_ddb(item: dict[str, Any]) -> Item:
    return {k: _deserialize(v) for k, v in item.items()}


def dumps(doc: Any) -> str:
    """Canonical JSON: sorted keys, no whitespace (also what definition hashes are taken over)."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass
class Expr:
    """A condition or filter expression with its placeholders."""

    text: str
    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)

    def __and__(self, other: Expr) -> Expr:
        if not self.text:
            return other
        if not other.text:
            return self
        return Expr(f"({self.text}) AND ({other.text})", {**self.names, **other.names}, {**self.values, **other.values})


@dataclass
class Put:
    item: Item
    condition: Expr | None = None


@dataclass
class Delete:
    key: Item
    condition: Expr | None = None


@dataclass
class Update:
    key: Item
    expression: Expr
    condition: Expr | None = None


@dataclass
class Check:
    key: Item
    condition: Expr


def _apply(request: dict[str, Any], condition: Expr | None) -> dict[str, Any]:
    if condition is not None and condition.text:
        request["ConditionExpression"] = condition.text
        if condition.names:
            request["ExpressionAttributeNames"] = condition.names
        if condition.values:
            request["ExpressionAttributeValues"] = to_ddb(condition.values)
    return request


def _update_request(table: str, op: Update) -> dict[str, Any]:
    expr = op.expression & (op.condition or Expr(""))
    request: dict[str, Any] = {"TableName": table, "Key": to_ddb(op.key), "UpdateExpression": op.expression.text}
    if op.condition is not None and op.condition.text:
        request["ConditionExpression"] = op.condition.text
    if expr.names:
        request["ExpressionAttributeNames"] = expr.names
    if expr.values:
        request["ExpressionAttributeValues"] = to_ddb(expr.values)
    return request


class Table:
    """One DynamoDB table."""

    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def _ddb(self) -> Any:
        return client("dynamodb")

    def get(self, pk: str, sk: str, consistent: bool = True) -> Item | None:
        response = self._ddb.get_item(TableName=self.name, Key=to_ddb({"pk": pk, "sk": sk}), ConsistentRead=consistent)
        raw = response.get("Item")
        return from_ddb(raw) if raw else None

    def put(self, item: Item, condition: Expr | None = None) -> None:
        """Write an item; with a condition, a failed condition raises ``ConflictError``.

        Raises:
            ConflictError: the condition did not hold.
        """
        ddb = self._ddb
        try:
            ddb.put_item(**_apply({"TableName": self.name, "Item": to_ddb(item)}, condition))
        except ddb.exceptions.ConditionalCheckFailedException as exc:
            raise ConflictError("the record changed or already exists", table=self.name) from exc

    def delete(self, pk: str, sk: str, condition: Expr | None = None) -> None:
        """Delete an item.

        Raises:
            ConflictError: the condition did not hold.
        """
        ddb = self._ddb
        try:
            ddb.delete_item(**_apply({"TableName": self.name, "Key": to_ddb({"pk": pk, "sk": sk})}, condition))
        except ddb.exceptions.ConditionalCheckFailedException as exc:
            raise ConflictError("the record changed or is gone", table=self.name) from exc

    def transact(self, operations: Sequence[Put | Delete | Update | Check]) -> None:
        """All-or-nothing write of up to 100 operations.

        Raises:
            ConflictError: a condition did not hold (``details.reasons`` lists each operation's reason).
        """
        requests: list[dict[str, Any]] = []
        for op in operations:
            if isinstance(op, Put):
                requests.append({"Put": _apply({"TableName": self.name, "Item": to_ddb(op.item)}, op.condition)})
            elif isinstance(op, Delete):
                requests.append({"Delete": _apply({"TableName": self.name, "Key": to_ddb(op.key)}, op.condition)})
            elif isinstance(op, Update):
                requests.append({"Update": _update_request(self.name, op)})
            else:
                requests.append(
                    {"ConditionCheck": _apply({"TableName": self.name, "Key": to_ddb(op.key)}, op.condition)}
                )
        ddb = self._ddb
        for attempt in range(6):
            try:
                ddb.transact_write_items(TransactItems=requests)
                return
            except ddb.exceptions.TransactionCanceledException as exc:
                reasons = [r.get("Code", "None") for r in exc.response.get("CancellationReasons", [])]
                # Another transaction held one of these items: nothing was decided, so try again.
                if "TransactionConflict" in reasons and "ConditionalCheckFailed" not in reasons and attempt < 5:
                    time.sleep(random.uniform(0.005, 0.02) * (attempt + 1))
                    continue
                raise ConflictError("the change conflicts with the current state", reasons=reasons) from exc

    def update(self, op: Update) -> None:
        """Apply one update expression.

        Raises:
            ConflictError: the condition did not hold.
        """
        ddb = self._ddb
        try:
            ddb.update_item(**_update_request(self.name, op))
        except ddb.exceptions.ConditionalCheckFailedException as exc:
            raise ConflictError("the record changed", table=self.name) from exc

    def batch_write(self, puts: Sequence[Item] = (), deletes: Sequence[Item] = ()) -> None:
        """Unconditional bulk writes, 25 per request, retrying unprocessed items."""
        requests = [{"PutRequest": {"Item": to_ddb(i)}} for i in puts]
        requests += [{"DeleteRequest": {"Key": to_ddb(k)}} for k in deletes]
        for start in range(0, len(requests), 25):
            pending: dict[str, Any] = {self.name: requests[start : start + 25]}
            for _ in range(8):
                response = self._ddb.batch_write_item(RequestItems=pending)
                pending = response.get("UnprocessedItems") or {}
                if not pending:
                    break

    def query(
        self,
        pk_name: str,
        pk: str,
        *,
        index: str | None = None,
        sk: Expr | None = None,
        filter: Expr | None = None,
        newest_first: bool = False,
        limit: int | None = None,
        select_count: bool = False,
    ) -> Iterator[Item]:
        """Yield every matching item (following pagination), or count them with ``select_count``."""
        key = Expr("#pk = :pk", {"#pk": pk_name}, {":pk": pk}) & (sk or Expr(""))
        request: dict[str, Any] = {
            "TableName": self.name,
            "KeyConditionExpression": key.text,
            "ScanIndexForward": not newest_first,
        }
        names, values = dict(key.names), dict(key.values)
        if filter is not None and filter.text:
            request["FilterExpression"] = filter.text
            names.update(filter.names)
            values.update(filter.values)
        request["ExpressionAttributeNames"] = names
        request["ExpressionAttributeValues"] = to_ddb(values)
        if index:
            request["IndexName"] = index
        if select_count:
            request["Select"] = "COUNT"
        yielded = 0
        while True:
            response = self._ddb.query(**request)
            if select_count:
                yield {"count": response["Count"]}
            else:
                for raw in response.get("Items", []):
                    yield from_ddb(raw)
                    yielded += 1
                    if limit is not None and yielded >= limit:
                        return
            last = response.get("LastEvaluatedKey")
            if not last:
                return
            request["ExclusiveStartKey"] = last

    def describe(self) -> dict[str, Any]:
        return dict(self._ddb.describe_table(TableName=self.name)["Table"])
