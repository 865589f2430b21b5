"""Logger and metrics, shared by every function (one place, one configuration)."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

logger = Logger(service="portico")
metrics = Metrics(namespace="Portico", service="portico")
