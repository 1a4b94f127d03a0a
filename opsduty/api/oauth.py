"""django-oauth-toolkit's validator, with the personal token row loaded with the token.

`BearerTokenAuthentication` records a personal token's last use (`api_token_touch`); reading
`ApiToken.last_used_at` in the same query as the token keeps that check free on the API's
hot path. Everything else is the toolkit's own behaviour.
"""

from __future__ import annotations

import hashlib
from typing import Any

from oauth2_provider.models import AccessToken
from oauth2_provider.oauth2_validators import OAuth2Validator as ToolkitValidator


class OAuth2Validator(ToolkitValidator):  # type: ignore[misc]
    """The toolkit's validator; token lookups also join the token's `ApiToken` row."""

    def _load_access_token(self, token: str) -> Any:
        # Same lookup as the toolkit's (by checksum: the token itself is not stored).
        checksum = hashlib.sha256(token.encode("utf-8")).hexdigest()
        return (
            AccessToken.objects.select_related("application", "user", "api_token")
            .filter(token_checksum=checksum)
            .first()
        )
