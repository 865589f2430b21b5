"""Gateway benchmark: Portico's MCP endpoint against direct calls to the same MCP server, in one run.

    make bench            (or: .venv/bin/python bench/gateway.py [--quick])

Starts 16 Python SDK downstreams (stateless, JSON responses) and `portico dev`, then measures:
* tools/call latency (p50/p95/p99) and throughput at concurrency 1 and 8: direct vs /mcp/toolsets/{id}
  (in alternating rounds — direct, gateway, direct, gateway — pooled, so that both see the same machine);
* tools/list through Portico over a toolset of 1 server and of 16 servers (cold: the first call, which
  fans out to every server; warm: with the gateway's caches);
* the Portico process's CPU time per tools/call (less sensitive to a busy machine than latencies);
* cold start of the MCP handler (a fresh process to its first answered tools/call) beside
  `python -c "import mcp"`, both measured here.
Loads are bounded in count and time; everything listens on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "portico")]

from tests.factories import processes  # noqa: E402
from tests.factories.api import http as api_call  # noqa: E402


class Caller:
    """One keep-alive HTTP connection posting JSON-RPC, as an MCP client in stateless mode does."""

    def __init__(self, url: str, key: str | None = None) -> None:
        parts = urlsplit(url)
        self.path = parts.path
        self.connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
        self.headers = {
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": "2025-11-25",
        }
        if key:
            self.headers["Authorization"] = f"Bearer {key}"
        self.ids = 0

    def exchange(self, method: str, params: dict[str, Any]) -> bytes:
        """Send one request and read its answer to the last byte (what the load loops time)."""
        self.ids += 1
        body = json.dumps({"jsonrpc": "2.0", "id": self.ids, "method": method, "params": params})
        self.connection.request("POST", self.path, body=body, headers=self.headers)
        return self.connection.getresponse().read()

    @staticmethod
    def result(method: str, raw: bytes) -> dict[str, Any]:
        data = json.loads(raw)
        if "result" not in data or data["result"].get("isError"):
            raise RuntimeError(f"{method} failed: {data}")
        return dict(data["result"])

    def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        return self.result(method, self.exchange(method, params))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def load(
    url: str, key: str | None, method: str, params: dict[str, Any], concurrency: int, per_worker: int, budget_s: float
) -> dict[str, float]:
    """``concurrency`` workers, each with its own connection, ``per_worker`` calls or ``budget_s`` seconds.

    A latency is the time from sending a request to reading the last byte of its answer, as HTTP load
    tools (wrk, hey) measure it; every answer is then decoded and checked outside that span, so the
    client's JSON decoding (which grows with the answer, e.g. a 64-tool list) is not counted as the
    server's time.
    """
    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.monotonic() + budget_s

    def worker() -> None:
        caller = Caller(url, key)
        caller.call(method, params)  # warm the connection and every cache on the path
        mine = []
        for _ in range(per_worker):
            if time.monotonic() > deadline:
                break
            started = time.perf_counter()
            raw = caller.exchange(method, params)
            mine.append((time.perf_counter() - started) * 1000)
            caller.result(method, raw)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return summary(latencies, time.perf_counter() - started)


def summary(latencies: list[float], elapsed: float) -> dict[str, Any]:
    return {
        "n": len(latencies),
        "p50": percentile(latencies, 0.5),
        "p95": percentile(latencies, 0.95),
        "p99": percentile(latencies, 0.99),
        "calls_per_s": len(latencies) / elapsed,
        "_latencies": latencies,
        "_elapsed": elapsed,
    }


def combined(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One measurement from several rounds of it (their latencies pooled, their calls over their time)."""
    return summary([ms for p in parts for ms in p["_latencies"]], sum(p["_elapsed"] for p in parts))


def public(result: dict[str, Any]) -> dict[str, Any]:
    return {k: (public(v) if isinstance(v, dict) else v) for k, v in result.items() if not k.startswith("_")}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(root: int) -> float:
    """CPU time so far of a process and its live descendants (``portico dev``, its moto and pollers)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue  # gone meanwhile
    tree, grown = {root}, True
    while grown:
        found = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= found
        grown = bool(found)
    total = 0.0
    for pid in tree:
        try:
            total += cpu_seconds(pid)
        except (OSError, ValueError):
            continue
    return total


def wall(command: list[str], env: dict[str, str] | None = None, until: str | None = None) -> float:
    """Seconds from spawning ``command`` to its exit, or to the line ``until`` on its stdout."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    elapsed = None
    for line in process.stdout:
        if until is not None and line.strip() == until:
            elapsed = time.perf_counter() - started
    if process.wait(timeout=120) != 0:
        raise RuntimeError(f"{command[:3]} failed")
    return elapsed if elapsed is not None else time.perf_counter() - started


COLD_START = """
import json, sys, time
from functions.mcp.app import lambda_handler
event = json.loads(sys.argv[1])
response = lambda_handler(event, None)
body = json.loads(response["body"])
assert "result" in body, body
print("answered", flush=True)  # measured here: the answer, not the interpreter's exit
"""


def cold_start_event(toolset_id: str, info: dict[str, Any]) -> dict[str, Any]:
    return {
        "resource": "/mcp/toolsets/{toolset_id}",
        "path": f"/mcp/toolsets/{toolset_id}",
        "httpMethod": "POST",
        "headers": {"Content-Type": "application/json"},
        "pathParameters": {"toolset_id": toolset_id},
        "requestContext": {
            "requestId": "cold",
            "stage": "local",
            "domainName": "127.0.0.1",
            "authorizer": {
                "kind": "api_key",
                "principal_id": info["admin_user_id"],
                "org_id": info["org_id"],
                "user_id": info["admin_user_id"],
                "role": "admin",
                "tier": "studio",
            },
        },
        "body": json.dumps(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "tools/call",
                "params": {"name": "add", "arguments": {"a": 1, "b": 2}},
            }
        ),
        "isBase64Encoded": False,
    }


def handler_environment(info: dict[str, Any]) -> dict[str, str]:
    """The MCP function's environment from template.yaml, pointed at the running local Portico's moto."""
    from portico.local.template import Template

    template = Template.from_file(ROOT / "template.yaml", "us-east-1", {"Stage": "local"})
    for logical, name in (
        ("MainTable", "portico-local-main"),
        ("ReceiptsTable", "portico-local-receipts"),
        ("SessionsTable", "portico-local-sessions"),
        ("EventBus", "portico-local"),
    ):
        template.physical[logical] = {"Ref": name}
    env = dict(template.functions()["McpFunction"].environment)
    env.update(
        {
            "PATH": os.environ["PATH"],
            "AWS_ENDPOINT_URL": info["aws_endpoint"],
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "PORTICO_ALLOW_PRIVATE_TARGETS": "true",
            "PYTHONPATH": f"{ROOT}:{ROOT / 'layers' / 'portico'}",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
        }
    )
    return env


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer calls (a smoke run)")
    parser.add_argument("--json", default=str(ROOT / "bench" / "results.json"))
    args = parser.parse_args()
    scale = 0.2 if args.quick else 1.0
    servers = 16
    with ExitStack() as stack, tempfile.TemporaryDirectory() as state:
        ports = [processes.free_port() for _ in range(servers)]
        for port in ports:
            stack.enter_context(processes.demo_server("streamable-http", port))
        portico = subprocess.Popen(
            [sys.executable, "-m", "portico.cli", "dev", "--port", "0", "--no-demo", "--state-dir", state],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, "PYTHONPATH": str(ROOT / "layers" / "portico"), "POWERTOOLS_LOG_LEVEL": "WARNING"},
        )
        stack.callback(portico.wait, timeout=30)
        stack.callback(os.killpg, portico.pid, signal.SIGTERM)  # callbacks run last-in first-out
        local = Path(state) / "local.json"
        deadline = time.monotonic() + 60
        while not local.exists():
            if time.monotonic() > deadline or portico.poll() is not None:
                raise SystemExit("portico dev did not start")
            time.sleep(0.1)
        info = json.loads(local.read_text())
        api, key = info["api_url"], info["admin_api_key"]
        ids = []
        for n, port in enumerate(ports):
            server = api_call(
                "POST", f"{api}/v1/mcp/servers", key, {"name": f"s{n}", "url": f"http://127.0.0.1:{port}/mcp"}
            )
            ids.append(server.data["id"])
        one = api_call("POST", f"{api}/v1/toolsets/from_servers", key, {"name": "one", "server_ids": ids[:1]}).data
        many = api_call(
            "POST",
            f"{api}/v1/toolsets/from_servers",
            key,
            {"name": "sixteen", "server_ids": ids, "on_conflict": "prefix"},
        ).data
        direct_url = f"http://127.0.0.1:{ports[0]}/mcp"
        gateway_url = f"{api}/mcp/toolsets/{one['id']}"
        call = {"name": "add", "arguments": {"a": 2, "b": 3}}
        results: dict[str, Any] = {"servers": servers, "python": sys.version.split()[0], "cpus": os.cpu_count()}

        # tools/list: the first call per toolset fans out to every server (cold); then warm. What is
        # compared is measured in alternating rounds, so a slow spell of this shared machine falls on both.
        rounds = 4
        lists = (("list_1", one), ("list_16", many))
        for label, toolset in lists:
            caller = Caller(f"{api}/mcp/toolsets/{toolset['id']}", key)
            started = time.perf_counter()
            listed = caller.call("tools/list", {})
            results[f"{label}_cold_ms"] = (time.perf_counter() - started) * 1000
            results[f"{label}_tools"] = len(listed["tools"])
        listing: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in lists}
        for _ in range(rounds):
            for label, toolset in lists:
                url = f"{api}/mcp/toolsets/{toolset['id']}"
                listing[label].append(load(url, key, "tools/list", {}, 1, int(200 * scale) // rounds, 10))
        for label, parts in listing.items():
            results[label] = combined(parts)

        for concurrency, per_worker in ((1, int(400 * scale)), (8, int(250 * scale))):
            direct: list[dict[str, Any]] = []
            gateway: list[dict[str, Any]] = []
            portico_cpu = emulation_cpu = 0.0
            for _ in range(2):  # direct, gateway, direct, gateway
                direct.append(load(direct_url, None, "tools/call", call, concurrency, per_worker // 2, 15))
                cpu_before, tree_before = cpu_seconds(portico.pid), tree_cpu_seconds(portico.pid)
                gateway.append(load(gateway_url, key, "tools/call", call, concurrency, per_worker // 2, 15))
                time.sleep(2)  # the receipts of these calls reach their table (counted below), before direct runs
                own = cpu_seconds(portico.pid) - cpu_before
                portico_cpu += own
                emulation_cpu += tree_cpu_seconds(portico.pid) - tree_before - own
            results[f"direct_c{concurrency}"] = combined(direct)
            measured = combined(gateway)
            calls = measured["n"] + 2 * concurrency  # and each round's warm-up call per worker
            # The Portico process's own CPU per call (the API gateway, authorizer and MCP handler; not moto,
            # not the receipt pollers): it varies far less with the machine's load than latency does.
            measured["portico_cpu_ms"] = portico_cpu * 1000 / calls
            # moto (DynamoDB, EventBridge, SQS …) and the SQS pollers: what AWS runs elsewhere, here on the
            # same cores as the gateway and the downstream.
            measured["aws_emulation_cpu_ms"] = emulation_cpu * 1000 / calls
            results[f"gateway_c{concurrency}"] = measured

        env = handler_environment(info)
        event = json.dumps(cold_start_event(one["id"], info))
        samples = 3 if args.quick else 5
        cold = [wall([sys.executable, "-c", COLD_START, event], env, until="answered") for _ in range(samples)]
        import_mcp = [wall([sys.executable, "-c", "import mcp"]) for _ in range(samples)]
        results["cold_start_s"] = statistics.median(cold)
        results["import_mcp_s"] = statistics.median(import_mcp)

    results = public(results)
    report(results)
    Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


def report(r: dict[str, Any]) -> None:
    print(f"\nPortico gateway benchmark ({r['cpus']} CPUs, Python {r['python']}); latencies in ms\n")
    print(f"{'tools/call':<28}{'p50':>8}{'p95':>8}{'p99':>8}{'calls/s':>10}{'n':>6}")
    for c in (1, 8):
        for kind in ("direct", "gateway"):
            m = r[f"{kind}_c{c}"]
            print(
                f"{kind + f' (concurrency {c})':<28}{m['p50']:>8.2f}{m['p95']:>8.2f}{m['p99']:>8.2f}"
                f"{m['calls_per_s']:>10.0f}{m['n']:>6}"
            )
    d1, g1, d8, g8 = r["direct_c1"], r["gateway_c1"], r["direct_c8"], r["gateway_c8"]
    print(
        f"\ngateway-added p50 at concurrency 1: {g1['p50'] - d1['p50']:+.2f} ms "
        f"(ratio {g1['p50'] / d1['p50']:.2f}x direct)"
    )
    print(f"throughput at concurrency 8: {g8['calls_per_s'] / d8['calls_per_s']:.2f}x direct")
    print(
        f"Portico process CPU per tools/call: {g1['portico_cpu_ms']:.2f} ms at concurrency 1, "
        f"{g8['portico_cpu_ms']:.2f} ms at concurrency 8"
    )
    print(
        f"local AWS emulation (moto, SQS pollers) CPU per tools/call, for its receipt: "
        f"{g1['aws_emulation_cpu_ms']:.2f} ms at concurrency 1, {g8['aws_emulation_cpu_ms']:.2f} ms at concurrency 8"
    )
    print(f"\n{'tools/list via Portico':<28}{'cold':>8}{'p50':>8}{'p95':>8}{'tools':>8}")
    for label, name in (("list_1", "1 server"), ("list_16", "16 servers")):
        m = r[label]
        print(f"{name:<28}{r[label + '_cold_ms']:>8.1f}{m['p50']:>8.2f}{m['p95']:>8.2f}{r[label + '_tools']:>8}")
    print(
        f"16 servers vs 1 server: warm p50 {r['list_16']['p50'] / r['list_1']['p50']:.2f}x, "
        f"cold {r['list_16_cold_ms'] / r['list_1_cold_ms']:.2f}x"
    )
    print(
        f"\ncold start, fresh process to first answered tools/call: {r['cold_start_s']:.2f} s; "
        f"python -c 'import mcp': {r['import_mcp_s']:.2f} s (ratio {r['cold_start_s'] / r['import_mcp_s']:.2f})"
    )


if __name__ == "__main__":
    sys.exit(main())
