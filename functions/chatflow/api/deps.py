"""FastAPI dependencies as ``Annotated`` aliases: ``Services``, ``Claims``, ``CurrentUser``,
and the path parameters ``RoomId`` and ``UserId``."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from chatflow.container import Container
from chatflow.errors import Unauthenticated
from chatflow.models import User
from chatflow.security.tokens import TokenClaims

_bearer = HTTPBearer(auto_error=False, description="An access token from /api/auth/login")


def _services(request: Request) -> Container:
    container: Container = request.app.state.container_factory()
    return container


Services = Annotated[Container, Depends(_services)]


def _claims(
    services: Services,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> TokenClaims:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("an 'Authorization: Bearer <token>' header is required")
    return services.accounts.authenticate(credentials.credentials)


Claims = Annotated[TokenClaims, Depends(_claims)]


def _current_user(services: Services, claims: Claims) -> User:
    return services.accounts.me(claims.user_id)


CurrentUser = Annotated[User, Depends(_current_user)]

# Path parameters are named in camelCase, as every JSON field is, so a 422 names ``roomId``.
RoomId = Annotated[UUID, Path(alias="roomId")]
UserId = Annotated[UUID, Path(alias="userId")]


def client_address(request: Request) -> str:
    """The caller's address: API Gateway's ``sourceIp`` (Mangum puts it in ``client``)."""
    return request.client.host if request.client else "unknown"
