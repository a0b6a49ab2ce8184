"""Accounts and tokens: register, login, logout, ws-ticket, me, password."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from chatflow.api.convert import user_out
from chatflow.api.deps import Claims, CurrentUser, Services, client_address
from chatflow.api.schemas import (
    AuthOut,
    ChangePasswordIn,
    LoginIn,
    RegisterIn,
    TicketOut,
    UserOut,
)
from chatflow.domain.accounts import Session

router = APIRouter(tags=["accounts"])
ClientAddress = Annotated[str, Depends(client_address)]


def _auth_out(session: Session) -> AuthOut:
    return AuthOut(
        user=user_out(session.user),
        access_token=session.token.token,
        expires_in=session.token.expires_in,
    )


@router.post("/auth/register", status_code=201, response_model=AuthOut)
def register(body: RegisterIn, services: Services, address: ClientAddress) -> AuthOut:
    services.limiter.check(services.auth_policy, address)
    return _auth_out(services.accounts.register(body.username, body.password, body.display_name))


@router.post("/auth/login", response_model=AuthOut)
def login(body: LoginIn, services: Services, address: ClientAddress) -> AuthOut:
    services.limiter.check(services.auth_policy, address)
    return _auth_out(services.accounts.login(body.username, body.password))


@router.post("/auth/logout", status_code=204, response_class=Response)
def logout(services: Services, claims: Claims) -> Response:
    services.accounts.logout(claims)
    return Response(status_code=204)


@router.post("/auth/ws-ticket", response_model=TicketOut)
def ws_ticket(services: Services, claims: Claims) -> TicketOut:
    """A ticket of at most 60 s for ``wss://…?ticket=…`` (browsers cannot set headers there)."""
    issued = services.accounts.issue_ticket(claims)
    return TicketOut(ticket=issued.token, expires_in=issued.expires_in)


@router.get("/users/me", response_model=UserOut)
def me(user: CurrentUser) -> UserOut:
    return user_out(user)


@router.put("/users/me/password", response_model=AuthOut)
def change_password(body: ChangePasswordIn, services: Services, claims: Claims) -> AuthOut:
    """Change the password; every earlier token stops working and a fresh one is returned."""
    session = services.accounts.change_password(claims, body.current_password, body.new_password)
    return _auth_out(session)
