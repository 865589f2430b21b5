"""Start and stop the whole local Portico: moto, resources, API gateway, pollers."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from portico.local.apigw import LocalApiGateway
from portico.local.aws import Moto, create_resources, enable_step_functions, point_boto3_at
from portico.local.invoke import InvokeServer
from portico.local.lambdas import Lambdas
from portico.local.poller_process import PollerProcess, poller_spec
from portico.local.processes import ProcessRegistry
from portico.local.processes import install as install_processes
from portico.local.template import Template
from portico.observability import logger

REGION = "us-east-1"


def project_root() -> Path:
    """The directory holding template.yaml (the source checkout)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "template.yaml").exists():
            return parent
    return Path.cwd()


def _reset_caches() -> None:
    """Settings and clients are cached per process; a (re)started runtime must rebuild them."""
    from portico import wiring
    from portico.repositories import aws, main, users
    from portico.settings import get_settings

    get_settings.cache_clear()
    aws.clear_clients()
    main.main_repository.cache_clear()
    users.user_directory.cache_clear()
    for factory in vars(wiring).values():
        if hasattr(factory, "cache_clear"):
            factory.cache_clear()
    from portico.hosting import platforms, tokens
    from portico.services import idempotency

    platforms.get_platform.cache_clear()
    idempotency._store.cache_clear()
    tokens._key = None


@dataclass
class LocalRuntime:
    root: Path = field(default_factory=project_root)
    host: str = "127.0.0.1"
    port: int = 3000
    endpoint: str | None = None  # an external AWS endpoint (LocalStack); None starts moto in-process
    start_pollers: bool = True
    retry_delay: int = 2  # seconds before a failed SQS message is delivered again (Lambda: the visibility timeout)
    moto: Moto | None = None
    template: Template | None = None
    gateway: LocalApiGateway | None = None
    pollers: PollerProcess | None = None
    api_url: str = ""
    poll_seconds: int = 1  # the hosting workflows' Wait states (10 s in AWS)
    invoker: InvokeServer | None = None
    processes: ProcessRegistry | None = None
    state_dir: str | None = None

    def start(self) -> str:
        """Bring everything up; returns the API base URL."""
        # Many handlers share this interpreter (in Lambda each has its own): hand the lock to a thread
        # whose I/O completed after 1 ms rather than Python's default 5 ms.
        sys.setswitchinterval(0.001)
        if self.endpoint is None:
            # State machines' Lambda tasks come back to this runtime through its invoke endpoint.
            self.invoker = InvokeServer()
            self.invoker.start()
            self.moto = Moto()
            self.endpoint = self.moto.start(
                env={"PORTICO_LOCAL_INVOKE_URL": self.invoker.url, "PORTICO_LOCAL_INVOKE_TOKEN": self.invoker.token}
            )
            enable_step_functions(self.endpoint)
        point_boto3_at(self.endpoint, REGION)
        self.template = Template.from_file(
            self.root / "template.yaml",
            REGION,
            {"Stage": "local", "LogLevel": "WARNING", "HostingPollSeconds": str(self.poll_seconds)},
        )
        create_resources(self.template, self.endpoint)
        lambdas = Lambdas(self.root, self.template.functions())
        if self.invoker is not None:
            self.invoker.lambdas = lambdas
        self.gateway = LocalApiGateway(self.template.api_routes(), lambdas, self.template.authorizer_function())
        port = self.gateway.start(self.host, self.port)
        self.api_url = f"http://{self.host}:{port}"
        # Now that the address is known, the template's view of it can be resolved.
        self.template.parameters["PublicBaseUrl"] = self.api_url
        self.gateway.responses = self.template.gateway_responses()
        environment: dict[str, str] = {}
        for function in self.template.functions().values():
            for key, value in function.environment.items():
                if environment.get(key, value) != value:
                    raise RuntimeError(f"functions disagree on {key}; in-process handlers share one environment")
                environment[key] = value
        os.environ.update(environment)
        os.environ["PORTICO_ALLOW_PRIVATE_TARGETS"] = "true"  # local downstreams live on loopback
        os.environ.setdefault("PORTICO_AWS_READ_TIMEOUT", "60")  # moto on a busy laptop can be slow
        # Hosted servers run as local processes owned by this runtime (stopped with it).
        os.environ["PORTICO_PLATFORM"] = "local"
        self.state_dir = tempfile.mkdtemp(prefix="portico-hosting-")
        os.environ["PORTICO_HOSTING_STATE_DIR"] = self.state_dir
        self.processes = ProcessRegistry()
        install_processes(self.processes)
        _reset_caches()
        if self.start_pollers:
            self._start_pollers()
        logger.info("local runtime up", api_url=self.api_url, aws_endpoint=self.endpoint)
        return self.api_url

    def _start_pollers(self) -> None:
        """The SQS → Lambda mappings and the functions they invoke run in a process of their own (as in
        AWS, apart from the API's functions), so receipt writing never holds the gateway's interpreter."""
        assert self.template is not None
        self.pollers = PollerProcess()
        self.pollers.start(poller_spec(self.template, self.root, self.retry_delay))

    def physical(self, logical_id: str) -> dict[str, Any]:
        assert self.template is not None
        return self.template.physical[logical_id]

    def stop(self) -> None:
        from portico.repositories.events import flush_all

        flush_all(timeout=2)  # events still buffered go out while their bus exists
        if self.pollers:
            self.pollers.stop()
        if self.processes is not None:
            self.processes.stop_all()  # every hosted server and build this Portico started
            install_processes(None)
        if self.gateway:
            self.gateway.stop()
        if self.invoker is not None:
            self.invoker.stop()
        if self.moto:
            self.moto.stop()
        if self.state_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)
