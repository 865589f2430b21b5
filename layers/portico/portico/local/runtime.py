"""Start and stop the whole local Portico: moto, resources, API gateway, pollers."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from portico.local.apigw import LocalApiGateway
from portico.local.aws import Moto, create_resources, point_boto3_at
from portico.local.lambdas import Lambdas
from portico.local.poller_process import PollerProcess, poller_spec
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
    from portico.repositories import aws, main
    from portico.settings import get_settings

    get_settings.cache_clear()
    aws.client.cache_clear()
    main.main_repository.cache_clear()
    for factory in vars(wiring).values():
        if hasattr(factory, "cache_clear"):
            factory.cache_clear()


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

    def start(self) -> str:
        """Bring everything up; returns the API base URL."""
        # Many handlers share this interpreter (in Lambda each has its own): hand the lock to a thread
        # whose I/O completed after 1 ms rather than Python's default 5 ms.
        sys.setswitchinterval(0.001)
        if self.endpoint is None:
            self.moto = Moto()
            self.endpoint = self.moto.start()
        point_boto3_at(self.endpoint, REGION)
        self.template = Template.from_file(
            self.root / "template.yaml", REGION, {"Stage": "local", "LogLevel": "WARNING"}
        )
        create_resources(self.template, self.endpoint)
        lambdas = Lambdas(self.root, self.template.functions())
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
        if self.gateway:
            self.gateway.stop()
        if self.moto:
            self.moto.stop()
