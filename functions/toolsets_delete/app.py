"""DELETE /v1/toolsets/{toolset_id}: Delete a toolset."""

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, no_content, principal
from portico.wiring import toolsets

app = api()


@app.delete("/v1/toolsets/<toolset_id>")
def delete_toolset(toolset_id: str) -> Response[None]:
    toolsets().delete(principal(app), toolset_id)
    return no_content()


lambda_handler = handler(app)
