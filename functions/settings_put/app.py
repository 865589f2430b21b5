"""PUT /v1/settings/{key}: Admins set one allow-listed setting (`{"value": null}` restores the default)."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, ok, principal
from portico.models.policy import SettingUpdate
from portico.wiring import org_settings

app = api()


@app.put("/v1/settings/<key>")
def put_setting(key: str, body: SettingUpdate) -> Response[dict[str, Any]]:
    return ok(org_settings().put(principal(app), key, body))


lambda_handler = handler(app)
