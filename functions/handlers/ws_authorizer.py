"""``$connect`` REQUEST authorizer: a ticket (``?ticket=``) or an ``Authorization: Bearer``.

Valid credentials → Allow with the identity in the context (API Gateway passes it to
every later event of the connection). No credentials at all → Allow as anonymous: the
client must then authenticate in its STOMP CONNECT frame (as Spring clients do), and
every other frame is refused until it does. Invalid, expired, revoked or replayed
credentials → Deny. Nothing raises: an unexpected error denies.

It is built from :mod:`chatflow.authorizer_container` (token service and revocation
store), not from the WebSocket runtime: its cold start loads no boto3, psycopg or
DynamoDB code (docs/adr/0006-websocket-authorizer.md).
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from chatflow.authorizer_container import AuthorizerContainer, build_authorizer_container
from chatflow.errors import Unauthenticated
from chatflow.logs import configure_logging, request_id_var
from chatflow.settings import get_settings
from chatflow.ws.identity import Identity

configure_logging(get_settings().log_level)
logger = logging.getLogger("chatflow.ws.authorizer")


@lru_cache(maxsize=1)
def get_authorizer() -> AuthorizerContainer:
    """Built on the first handshake and kept while the container is warm; a failure to
    build it denies that handshake (the handler catches it) instead of failing init."""
    return build_authorizer_container(get_settings())


def _policy(effect: str, resource: str, principal: str, context: dict[str, Any]) -> dict[str, Any]:
    return {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
        "context": context,
    }


def _header(event: dict[str, Any], name: str) -> str | None:
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == name:
            return str(value)
    return None


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request_id_var.set(getattr(context, "aws_request_id", "-"))
    resource = str(event.get("methodArn", "*"))
    ticket = (event.get("queryStringParameters") or {}).get("ticket")
    auth = _header(event, "authorization")
    try:
        credentials = get_authorizer().credentials
        if ticket:
            claims = credentials.verify_ticket_once(str(ticket))
        elif auth and auth[:7].lower() == "bearer ":
            claims = credentials.authenticate(auth[7:].strip())
        else:
            return _policy("Allow", resource, "anonymous", {"anonymous": "true"})
        identity = Identity.from_claims(claims)
        return _policy("Allow", resource, str(identity.user_id), identity.authorizer_context())
    except Unauthenticated as exc:
        logger.info("connection refused", extra={"reason": exc.detail})
    except Exception:
        logger.exception("authorizer failed")
    return _policy("Deny", resource, "denied", {})
