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
    services.limiter.check(services.rates.auth, address)
    return _auth_out(services.accounts.register(body.username, body.password, body.display_name))


@router.post("/auth/login", response_model=AuthOut)
def login(body: LoginIn, services: Services, address: ClientAddress) -> AuthOut:
    services.limiter.check(services.rates.auth, address)
    return _auth_out(services.accounts.login(body.username, body.password))


@router.post("/auth/logout", status_code=204, response_class=Response)
def logout(services: Services, claims: Claims) -> Response:
    services.accounts.logout(claims)
    return Response(status_code=204)


@router.post("/auth/ws-ticket", response_model=TicketOut)
def ws_ticket(services: Services, claims: Claims) -> TicketOut:
    """A ticket of at most 60 s for ``wss://…?ticket=…`` (browsers cannot set headers there)."""
    services.limiter.check(services.rates.ticket, str(claims.user_id))
    issued = services.accounts.issue_ticket(claims)
    return TicketOut(ticket=issued.token, expires_in=issued.expires_in)


@router.get("/users/me", response_model=UserOut)
def me(user: CurrentUser) -> UserOut:
    return user_out(user)


@router.put("/users/me/password", response_model=AuthOut)
def change_password(
    body: ChangePasswordIn, services: Services, claims: Claims, address: ClientAddress
) -> AuthOut:
    """Change the password; every earlier token stops working and a fresh one is returned.

    Throttled per user and per client address before anything is checked, so every try
    counts, right or wrong: a check after the verification could only charge the wrong
    ones once bcrypt had answered, and N tries sent at once would all pass it first. Right
    tries are rare (a person changes a password a few times a year), so counting them
    costs nobody anything, and it also bounds the bcrypt work one caller can ask for.
    """
    services.limiter.check(services.rates.password_user, str(claims.user_id))
    services.limiter.check(services.rates.password_address, address)
    session = services.accounts.change_password(claims, body.current_password, body.new_password)
    return _auth_out(session)
