"""Signing in to the dashboard: a token exchanged for a session cookie, who is signed in,
signing out (the session is revoked, not just forgotten by the browser)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Request, Response, status

from backend.app.api.auth import (
    SESSION_COOKIE,
    auth_mode,
    check_same_origin,
    lenient,
    unauthorized,
)
from backend.app.api.deps import BODY_ERRORS, Credentials, SessionDep, SettingsDep, errors
from backend.app.core.config import AuthMode
from backend.app.crud import users
from backend.app.crud.users import Principal
from backend.app.models import SessionCreate, SessionInfo

router = APIRouter(prefix="/session", tags=["session"])
SIGN_IN_EXAMPLE = {"a user's token": {"value": {"token": "the token `runboard users add` printed"}}}


def _info(mode: AuthMode, principal: Principal | None) -> SessionInfo:
    return SessionInfo(
        auth=mode,
        user=principal.name if principal else None,
        admin=bool(principal and principal.admin),
        expires_at=principal.expires_at if principal else None,
    )


@router.get("")
def read_session(
    request: Request, settings: SettingsDep, session: SessionDep, credentials: Credentials
) -> SessionInfo:
    """Who this request is (nobody, where its credentials are missing or no longer valid),
    and what RUNBOARD_AUTH asks to sign in for."""
    principal = lenient(request, settings, session, credentials)
    return _info(auth_mode(settings, session), principal)


@router.post("", responses=errors(401, 403, *BODY_ERRORS))
def sign_in(
    data: Annotated[SessionCreate, Body(openapi_examples=SIGN_IN_EXAMPLE)],
    request: Request,
    response: Response,
    settings: SettingsDep,
    session: SessionDep,
) -> SessionInfo:
    """Exchange an API token for a session cookie (HttpOnly, SameSite=Strict, Secure over
    HTTPS) that lasts RUNBOARD_SESSION_TTL_S or until signing out or the token's revocation."""
    if "origin" in request.headers:  # a browser's: only from this site's own pages
        check_same_origin(request)
    started = users.start_session(session, data.token, settings.api_token, settings.session_ttl_s)
    if started is None:
        raise unauthorized("no such token, or it was revoked")
    principal, secret = started
    session.commit()
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=int(settings.session_ttl_s),
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",  # uvicorn reads X-Forwarded-Proto from proxies
    )
    return _info(auth_mode(settings, session), principal)


@router.delete("", status_code=status.HTTP_204_NO_CONTENT, responses=errors(403))
def sign_out(request: Request, settings: SettingsDep, session: SessionDep) -> Response:
    """End this browser's session, if it has one."""
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    secret = request.cookies.get(SESSION_COOKIE)
    if secret:
        check_same_origin(request)
        principal = users.principal_for_session(session, secret, settings.api_token)
        if principal is not None and principal.session_id is not None:
            users.end_session(session, principal.session_id)
            session.commit()
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response
