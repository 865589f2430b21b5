"""Reading receipts: lists with filters, one receipt, and statistics (seeds 001, 002)."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import timedelta
from typing import Any

from pydantic import Field

from portico import auth
from portico.errors import NotFoundError, ValidationError
from portico.ids import iso, now
from portico.models.common import ListQuery, Page
from portico.models.identity import Principal
from portico.repositories.dynamo import Expr, Table

STATS_LIMIT = 100_000


class ReceiptQuery(ListQuery):
    tool: str | None = Field(default=None, max_length=128)
    server_id: str | None = Field(default=None, max_length=40)
    toolset_id: str | None = Field(default=None, max_length=40)
    principal: str | None = Field(default=None, max_length=40)


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return round(ordered[index], 2)


class ReceiptQueryService:
    def __init__(self, table: Table) -> None:
        self.table = table

    def _query(self, org_id: str, query: ReceiptQuery, default_days: int | None = None) -> list[dict[str, Any]]:
        after = query.created_after or (now() - timedelta(days=default_days) if default_days else None)
        if query.created_after and query.created_before and query.created_after > query.created_before:
            raise ValidationError("created_after is later than created_before", field="created_after")
        low = f"RCPT#{iso(after)}" if after else "RCPT#"
        high = f"RCPT#{iso(query.created_before)}" if query.created_before else "RCPT#\uffff"
        key = Expr("#sk BETWEEN :low AND :high", {"#sk": "sk"}, {":low": low, ":high": high})
        filters = Expr("")
        for attribute, value in (
            ("status", query.status),
            ("tool_name", query.tool),
            ("server_id", query.server_id),
            ("toolset_id", query.toolset_id),
            ("principal_id", query.principal),
        ):
            if value:
                filters = filters & Expr(
                    f"#{attribute} = :{attribute}", {f"#{attribute}": attribute}, {f":{attribute}": value}
                )
        items = self.table.query("pk", f"ORG#{org_id}", sk=key, filter=filters, newest_first=True, limit=STATS_LIMIT)
        return [json.loads(i["doc"]) for i in items]

    def list(self, principal: Principal, query: ReceiptQuery) -> Page[Any]:
        org_id = auth.require_member(principal)
        matches = self._query(org_id, query)
        return Page.of(matches, query)

    def get(self, principal: Principal, receipt_id: str) -> dict[str, Any]:
        org_id = auth.require_member(principal)
        items = list(self.table.query("gsi1pk", f"RCPT#{receipt_id}", index="gsi1", limit=1))
        receipt = json.loads(items[0]["doc"]) if items else None
        if receipt is None or receipt.get("org_id") != org_id:
            raise NotFoundError("receipt", receipt_id)
        return dict(receipt)

    def stats(self, principal: Principal, query: ReceiptQuery) -> dict[str, Any]:
        """Counts by status, tool and server; latency percentiles; per day (default: the last 7 days)."""
        org_id = auth.require_member(principal)
        receipts = self._query(org_id, query, default_days=7)
        latencies = [float(r.get("latency_ms") or 0) for r in receipts]
        per_day: dict[str, Counter[str]] = defaultdict(Counter)
        for r in receipts:
            per_day[r["created_at"][:10]][r["status"]] += 1
        return {
            "total": len(receipts),
            "by_status": dict(Counter(r["status"] for r in receipts)),
            "by_tool": dict(Counter(r["tool_name"] for r in receipts).most_common(50)),
            "by_server": dict(Counter(r.get("server_id") or "http" for r in receipts).most_common(50)),
            "latency_ms": {
                "p50": _percentile(latencies, 0.5),
                "p95": _percentile(latencies, 0.95),
                "p99": _percentile(latencies, 0.99),
            },
            "per_day": [{"date": day, "total": sum(c.values()), **dict(c)} for day, c in sorted(per_day.items())],
        }
