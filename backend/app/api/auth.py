"""Who a request is and what it may do: RUNBOARD_AUTH's modes, bearer tokens, the dashboard's
session cookie and its cross-site request forgery check.

- `off`: nothing is checked (a valid credential still names who launched a run).
- `writes`: every change needs a user's token, RUNBOARD_API_TOKEN or a session; reading is open.
- `all`: reading too (the streams included); /api/health and the sign-in stay open.
Unset, the mode is `writes` once a user or RUNBOARD_API_TOKEN exists, `off` before.

A cookie is sent by the browser whoever made the page, so a change that a cookie
authenticates must also carry the X-Requested-With header api.js sends (no cross-site form
can set a header) and, when the browser names an Origin, this server's own. Bearer tokens
are never sent by a browser on its own, so scripts need neither.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request, status
from sqlmodel import Session

from backend.app.api.deps import Credentials, SessionDep, SettingsDep
from backend.app.core.config import AuthMode, Settings
from backend.app.crud import users
from backend.app.crud.users import Principal
from backend.app.models import Run

SESSION_COOKIE = "runboard_session"
CSRF_HEADER = "X-Requested-With"  # api.js sends `X-Requested-With: runboard` on every call
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def auth_mode(settings: Settings, session: Session) -> AuthMode:
    if settings.auth is not None:
        return settings.auth
    if settings.api_token is not None or users.any_user(session):
        return "writes"
    return "off"


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


def forbidden(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_403_FORBIDDEN, detail=detail)


def same_origin(request: Request) -> bool:
    """A browser's own request: the header api.js sends, and no foreign Origin."""
    if CSRF_HEADER.lower() not in request.headers:
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True
    # Hosts, not schemes: behind a TLS proxy the page is https and the request here http.
    # A proxy that rewrites Host says the original in X-Forwarded-Host (no cross-site page
    # can set that header either, and the X-Requested-With above is needed anyway).
    hosts = {request.headers.get(name, "").lower() for name in ("host", "x-forwarded-host")}
    return urlsplit(origin).netloc.lower() in hosts - {""}


def check_same_origin(request: Request) -> None:
    if request.method not in SAFE_METHODS and not same_origin(request):
        raise forbidden(
            f"cross-site request refused: a signed-in change needs the {CSRF_HEADER} "
            "header and this site's Origin"
        )


def identify(
    request: Request, settings: Settings, session: Session, credentials: Credentials
) -> Principal | None:
    """Who sent the request (None: anonymous); 401 for a wrong token or an ended session."""
    if credentials is not None:
        found = users.principal_for_token(session, credentials.credentials, settings.api_token)
        if found is None:
            raise unauthorized("wrong bearer token (or revoked)")
        return found[0]
    secret = request.cookies.get(SESSION_COOKIE)
    if not secret:
        return None
    principal = users.principal_for_session(session, secret, settings.api_token)
    if principal is None:
        raise unauthorized("the session has ended: sign in again")
    check_same_origin(request)
    return principal


def lenient(
    request: Request, settings: Settings, session: Session, credentials: Credentials
) -> Principal | None:
    try:
        return identify(request, settings, session, credentials)
    except HTTPException:
        return None


def require_member(
    request: Request, settings: SettingsDep, session: SessionDep, credentials: Credentials
) -> Principal | None:
    """Changes: anyone signed in, unless auth is off (then None where nobody is)."""
    if auth_mode(settings, session) == "off":
        return lenient(request, settings, session, credentials)
    principal = identify(request, settings, session, credentials)
    if principal is None:
        raise unauthorized("sign in, or send a bearer token")
    return principal


def _reader(
    request: Request, settings: Settings, session: Session, credentials: Credentials
) -> None:
    if auth_mode(settings, session) != "all":
        return
    if identify(request, settings, session, credentials) is None:
        raise unauthorized("reading needs signing in here (RUNBOARD_AUTH=all)")


def require_reader(
    request: Request, settings: SettingsDep, session: SessionDep, credentials: Credentials
) -> None:
    """Reading: anyone, unless RUNBOARD_AUTH=all."""
    _reader(request, settings, session, credentials)


def require_stream_reader(
    request: Request, settings: SettingsDep, credentials: Credentials
) -> None:
    """require_reader for the streams, in a session closed at once: a request's own session
    would hold a pooled connection for as long as the stream stays open."""
    with Session(request.app.state.engine) as session:
        _reader(request, settings, session, credentials)


def require_admin(
    request: Request, settings: SettingsDep, session: SessionDep, credentials: Credentials
) -> Principal:
    """Managing users: an admin, whatever the mode."""
    principal = identify(request, settings, session, credentials)
    if principal is None:
        raise unauthorized("an admin's token or session is needed")
    if not principal.admin:
        raise forbidden(f"{principal.name} is not an admin")
    return principal


def check_owner(principal: Principal | None, run: Run, action: str) -> None:
    """Members change their own runs; admins any; with auth off (None), anyone."""
    if principal is None or principal.admin:
        return
    if run.created_by is None or run.created_by != principal.name:
        owner = run.created_by or "nobody (launched with auth off)"
        raise forbidden(f"only an admin or the run's owner may {action} it: it is {owner}'s")


def by(principal: Principal | None) -> str | None:
    return principal.name if principal else None


MemberDep = Annotated[Principal | None, Depends(require_member)]
AdminDep = Annotated[Principal, Depends(require_admin)]
ReaderDep = Depends(require_reader)
StreamReaderDep = Depends(require_stream_reader)
