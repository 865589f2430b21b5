"""Starting the hosting workflows (Step Functions executions)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from portico.repositories.aws import client
from portico.settings import get_settings

MACHINES = {
    "provision": "provision_state_machine",
    "start": "lifecycle_state_machine",
    "stop": "lifecycle_state_machine",
    "restart": "lifecycle_state_machine",
    "deprovision": "deprovision_state_machine",
}


class Workflows:
    """Port over Step Functions: one named execution per request (unnamed executions collide in moto)."""

    def start(self, action: str, org_id: str, server_id: str) -> str:
        """Start the workflow for ``action``; returns the execution ARN.

        Raises:
            ConfigurationError: the state machine is not configured.
        """
        arn = get_settings().require(MACHINES[action])
        payload: dict[str, Any] = {"org_id": org_id, "server_id": server_id, "action": action}
        name = f"{action}-{server_id}-{uuid.uuid4().hex[:12]}"
        response = client("stepfunctions").start_execution(stateMachineArn=arn, name=name, input=json.dumps(payload))
        return str(response["executionArn"])
