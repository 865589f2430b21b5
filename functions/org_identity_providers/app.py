"""PUT /v1/org/identity-providers: Admins set the external OIDC issuers whose tokens identify members."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, ok, principal
from portico.models.identity import IdentityProvidersPut
from portico.wiring import logins

app = api()


@app.put("/v1/org/identity-providers")
def set_identity_providers(body: IdentityProvidersPut) -> Response[dict[str, Any]]:
    providers = logins().set_identity_providers(principal(app), body)
    return ok({"identity_providers": [p.model_dump(mode="json") for p in providers]})


lambda_handler = handler(app)
