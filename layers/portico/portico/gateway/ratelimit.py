"""Rate limits counted exactly in DynamoDB, without a DynamoDB round trip on most calls.

Design
------
* **Fixed windows.** A limit is ``limit`` calls per ``interval`` seconds; a window starts at a
  multiple of the interval (``floor(now / interval) * interval``). One item per (key, window) in the
  main table — ``pk = RATE#<key>#<interval>``, ``sk = W#<window start>`` — holds ``used``, the number
  of tokens handed out in that window, and a TTL (``expires_at_epoch``) shortly after the window ends.
* **Leases.** A warm instance does not ask DynamoDB on every call. It *leases* a batch of ``n`` tokens
  with one conditional ``UpdateItem``: ``ADD used :n`` if ``used <= limit - n`` (or the item is new).
  The condition makes DynamoDB the single arbiter, so the sum of all leases in a window — and therefore
  the number of admitted calls, across every instance — never exceeds the limit. When ``n`` does not
  fit, the instance retries with ``n / 2`` down to 1; when even 1 does not fit, the window is used up
  (counts only grow), which the instance remembers until the window ends: further calls are refused
  locally, with ``Retry-After`` = seconds to the window's end.
* **Batch size.** A lease starts at 1 token and doubles each time an instance uses up its lease in
  the same window, capped at ``limit // 10`` (at least 1) and 64. A key called rarely costs one
  UpdateItem per call (and is exact even across instances); a hot key costs one per up to 64 calls.
  Tokens an instance leased but did not use when the window ends are lost: never over-admitting costs
  at most ``limit // 10`` under-admitted calls per other busy instance and window.
* **Leases renew ahead.** When a hot key's lease (a batch of 8 or more) runs down to a quarter, the
  next batch is leased in the background, so a busy caller does not wait on DynamoDB every ``batch``
  calls. The condition is the same; unused tokens at a window's end are lost as above (at most
  about 1.25 batches per instance).
* **All limits must pass.** A call takes a token from every applicable limit (tool, server,
  principal); when one refuses, the tokens already taken go back to this instance's leases (local, free).
* **Identity, not session.** Principal limits are keyed by the principal id (the user, or the API key
  of a service principal), so opening a new MCP session resets nothing.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from portico.errors import ConflictError, RateLimitedError
from portico.observability import logger
from portico.repositories.dynamo import Expr, Table, Update

MAX_BATCH = 64
RENEW_FROM_BATCH = 8  # smaller leases are renewed when used up (a rarely called key stays exact)
RENEWAL_WAIT = 10.0  # seconds a call waits on an in-flight renewal before leasing for itself


@dataclass(frozen=True)
class Limit:
    """One limit a call must pass: ``limit`` calls per ``interval`` seconds for ``key``."""

    scope: str  # principal, server or tool (named in the error)
    key: str
    limit: int
    interval: int


@dataclass
class _Lease:
    window: int
    available: int = 0
    batch: int = 1
    exhausted: bool = False
    renewing: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    renewed: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self.renewed = threading.Condition(self.lock)


class RateLimiter:
    """Per-process leases over the shared counters (see the module docstring)."""

    def __init__(self, table: Table, clock: Callable[[], float] = time.time) -> None:
        self.table = table
        self.clock = clock
        self._leases: dict[tuple[str, int, int], _Lease] = {}
        self._lock = threading.Lock()
        self._renewals = ThreadPoolExecutor(max_workers=2, thread_name_prefix="rate-lease")  # threads on first use

    def acquire(self, limits: list[Limit]) -> None:
        """Take one token from every limit, or none.

        Raises:
            RateLimitedError: a limit is used up for its current window (``retry_after`` in seconds).
        """
        taken: list[tuple[Limit, _Lease]] = []
        try:
            for limit in limits:
                taken.append((limit, self._take(limit)))
        except RateLimitedError:
            for _, lease in taken:
                with lease.lock:
                    lease.available += 1  # back to this instance's lease: still counted, still ours
            raise

    def _lease_of(self, limit: Limit, window: int) -> _Lease:
        key = (limit.key, limit.interval, limit.limit)  # a changed limit starts a fresh local view
        with self._lock:
            lease = self._leases.get(key)
            if lease is None or lease.window != window:
                lease = self._leases[key] = _Lease(window)
                if len(self._leases) > 50_000:
                    self._leases = {k: v for k, v in self._leases.items() if v.window >= window - 86400}
            return lease

    def _take(self, limit: Limit) -> _Lease:
        now = self.clock()
        window = int(now // limit.interval) * limit.interval
        lease = self._lease_of(limit, window)
        with lease.lock:
            if lease.available == 0 and lease.renewing:
                # The next batch is on its way: wait for it rather than lease a second one beside it.
                lease.renewed.wait_for(lambda: not lease.renewing, timeout=RENEWAL_WAIT)
            if lease.available > 0:
                lease.available -= 1
                if lease.batch >= RENEW_FROM_BATCH and lease.available <= lease.batch // 4 and not lease.renewing:
                    lease.renewing = True
                    self._renewals.submit(self._renew, limit, window, lease)
                return lease
            if not lease.exhausted:
                size = min(lease.batch, limit.limit)
                while size >= 1:
                    if self._lease(limit, window, size):
                        lease.available += size - 1
                        lease.batch = self._next_batch(limit, size)
                        return lease
                    size //= 2
                lease.exhausted = True
        retry_after = max(1, math.ceil(window + limit.interval - now))
        raise RateLimitedError(
            f"rate limit of {limit.limit} calls per {limit.interval}s reached for this {limit.scope}",
            retry_after,
            scope=limit.scope,
            limit=limit.limit,
            interval=limit.interval,
        )

    @staticmethod
    def _next_batch(limit: Limit, size: int) -> int:
        return min(size * 2, max(1, limit.limit // 10), MAX_BATCH)

    def _renew(self, limit: Limit, window: int, lease: _Lease) -> None:
        """Lease the next batch for ``lease``; a batch that does not fit is left to the caller's path,
        which halves it down to single tokens (and finds the window used up)."""
        size = min(lease.batch, limit.limit)
        try:
            granted = self._lease(limit, window, size)
        except Exception:  # DynamoDB unreachable now: the next call on the empty lease asks (and reports) itself
            logger.warning("rate limit lease renewal failed", key=limit.key, exc_info=True)
            granted = False
        with lease.lock:
            if granted:
                lease.available += size
                lease.batch = self._next_batch(limit, size)
            lease.renewing = False
            lease.renewed.notify_all()

    def _lease(self, limit: Limit, window: int, size: int) -> bool:
        """Atomically add ``size`` to the window's count if the total stays within the limit."""
        try:
            self.table.update(
                Update(
                    {"pk": f"RATE#{limit.key}#{limit.interval}", "sk": f"W#{window}"},
                    Expr(
                        "ADD #used :n SET #ttl = :ttl",
                        {"#used": "used", "#ttl": "expires_at_epoch"},
                        {":n": size, ":ttl": window + limit.interval + 300},
                    ),
                    Expr(
                        "attribute_not_exists(#used) OR #used <= :max",
                        {"#used": "used"},
                        {":max": limit.limit - size},
                    ),
                )
            )
        except ConflictError:
            return False
        return True
