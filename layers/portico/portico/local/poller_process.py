"""The SQS event-source mappings of the local runtime, in their own process:
`python -m portico.local.poller_process` with a JSON spec on stdin.

In AWS, the SQS → Lambda mapping and the functions it invokes (the receipt writer) run apart from the
API's functions. Locally they would otherwise share the gateway's interpreter and its lock: every
receipt (a receive, a batch write, a delete through boto3) would take CPU from the next tool call.
The spec names the sources, their queues and the retry delay; the environment is the runtime's own
(the template's function environment and the AWS endpoint). Prints ``polling`` once started and
exits on SIGTERM/SIGINT or when its parent dies.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from portico.local.template import Template


def main() -> int:
    from portico.local.lambdas import Lambdas
    from portico.local.poller import SqsPoller
    from portico.local.template import Function, SqsSource
    from portico.repositories.aws import client

    spec = json.loads(sys.stdin.readline())
    functions = {name: Function(**f) for name, f in spec["functions"].items()}
    lambdas = Lambdas(Path(spec["root"]), functions)
    sqs = client("sqs")
    pollers = [
        SqsPoller(SqsSource(**s["source"]), s["queue_url"], s["queue_arn"], lambdas, sqs, spec["retry_delay"])
        for s in spec["sources"]
    ]
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    for poller in pollers:
        poller.start()
    print("polling", flush=True)
    stop.wait()
    for poller in pollers:
        poller.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())


def poller_spec(template: Template, root: Path, retry_delay: int) -> dict[str, Any]:
    """What the poller process needs: each SQS source with its queue, and the functions they invoke."""
    sources = template.sqs_sources()
    functions = template.functions()
    return {
        "root": str(root),
        "retry_delay": retry_delay,
        "functions": {s.function: asdict(functions[s.function]) for s in sources},
        "sources": [
            {
                "source": asdict(s),
                "queue_url": template.physical[s.queue]["QueueUrl"],
                "queue_arn": template.physical[s.queue]["Arn"],
            }
            for s in sources
        ],
    }


class PollerProcess:
    """The parent's handle on the poller process (started after the resources and environment exist)."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[str] | None = None

    def start(self, spec: dict[str, Any], timeout: float = 60.0) -> None:
        from portico.local.aws import die_with_parent

        self._process = subprocess.Popen(
            [sys.executable, "-m", "portico.local.poller_process"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            preexec_fn=die_with_parent,
            start_new_session=True,  # stopped by Portico after its last events are flushed, not by a Ctrl+C
        )
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(json.dumps(spec) + "\n")
        self._process.stdin.close()
        ready, _, _ = select.select([self._process.stdout], [], [], timeout)
        if not ready or self._process.stdout.readline().strip() != "polling":
            self.stop()
            raise RuntimeError("the SQS poller process did not start")

    def stop(self) -> None:
        if self._process is not None:
            from portico.local.aws import stop_child

            stop_child(self._process)
