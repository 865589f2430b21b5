"""Step Functions task: one step of the hosting workflows (provision, deprovision, start/stop/restart)."""

from typing import Any

from portico.models.hosting import WorkflowInput
from portico.observability import logger
from portico.wiring import hosting


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return hosting().step(WorkflowInput.model_validate(event))
