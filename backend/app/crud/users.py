"""Users, their API tokens and dashboard sessions: who a credential is, and taking it away.

A token is 32 random bytes (URL-safe text); the database keeps only its SHA-256, so a copy
of the database gives no working credential. A token is found by its hash (an index look-up
cannot leak the secret: finding a row needs its whole pre-image) and the hash compared again
in constant time. Revoking a user revokes its tokens and sessions in the same commit, and
every request looks them up again: nothing is cached, so revocation takes effect at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from backend.app.crud.errors import Conflict, NotFound
from backend.app.models import ApiToken, User, UserPublic, UserSession, utcnow

BOOTSTRAP_NAME = "admin"  # who RUNBOARD_API_TOKEN is; no user may take the name


@dataclass(frozen=True)
class Principal:
    """Who a request is: a user, or the bootstrap admin (user_id None)."""

    name: str
    admin: bool
    user_id: int | None = None
    session_id: int | None = None  # the dashboard session it came through
    expires_at: datetime | None = None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)  # 256 bits


def any_user(session: Session) -> bool:
    return session.exec(select(User.id).limit(1)).first() is not None


def get_user(session: Session, name: str) -> User:
    user = session.exec(select(User).where(User.name == name)).first()
    if user is None:
        raise NotFound(f"user {name} does not exist")
    return user


def add_user(session: Session, name: str, *, admin: bool = False) -> tuple[User, str]:
    """A new user and its first token (the caller shows it once, then it is gone)."""
    if name == BOOTSTRAP_NAME:
        raise Conflict(f"{name} is the name of RUNBOARD_API_TOKEN's bootstrap admin")
    if session.exec(select(User.id).where(User.name == name)).first() is not None:
        raise Conflict(f"user {name} exists (names of revoked users are not reused)")
    user = User(name=name, admin=admin)
    session.add(user)
    session.flush()
    return user, add_token(session, user)


def add_token(session: Session, user: User) -> str:
    if user.revoked_at is not None:
        raise Conflict(f"user {user.name} is revoked")
    assert user.id is not None
    secret = new_secret()
    session.add(ApiToken(user_id=user.id, token_hash=token_hash(secret)))
    session.flush()
    return secret


def revoke_user(session: Session, user: User) -> None:
    """The user, all its tokens and all its sessions, at once (idempotent)."""
    now = utcnow()
    user.revoked_at = user.revoked_at or now
    session.add(user)
    for model in (ApiToken, UserSession):
        rows = session.exec(
            select(model).where(model.user_id == user.id, col(model.revoked_at).is_(None))
        ).all()
        for row in rows:
            row.revoked_at = now
            session.add(row)
    session.flush()


def user_view(session: Session, user: User) -> UserPublic:
    live = select(func.count()).where(
        ApiToken.user_id == user.id, col(ApiToken.revoked_at).is_(None)
    )
    return UserPublic(
        name=user.name,
        admin=user.admin,
        created_at=user.created_at,
        revoked_at=user.revoked_at,
        tokens=session.exec(live).one(),
    )


def list_users(session: Session) -> Sequence[User]:
    return session.exec(select(User).order_by(col(User.id))).all()


def _bootstrap(token: str, api_token: str | None) -> bool:
    return api_token is not None and hmac.compare_digest(token.encode(), api_token.encode())


def principal_for_token(
    session: Session, token: str, api_token: str | None
) -> tuple[Principal, ApiToken | None] | None:
    """Whose bearer token this is, None when nobody's (or revoked)."""
    if _bootstrap(token, api_token):
        return Principal(BOOTSTRAP_NAME, admin=True), None
    digest = token_hash(token)
    row = session.exec(
        select(ApiToken, User)
        .join(User, col(User.id) == ApiToken.user_id)
        .where(
            ApiToken.token_hash == digest,
            col(ApiToken.revoked_at).is_(None),
            col(User.revoked_at).is_(None),
        )
    ).first()
    if row is None or not hmac.compare_digest(row[0].token_hash, digest):
        return None
    found, user = row
    return Principal(user.name, admin=user.admin, user_id=user.id), found


def start_session(
    session: Session, token: str, api_token: str | None, ttl_s: float
) -> tuple[Principal, str] | None:
    """A dashboard session for the holder of `token`: (who, the cookie's secret)."""
    found = principal_for_token(session, token, api_token)
    if found is None:
        return None
    principal, api_row = found
    secret = new_secret()
    row = UserSession(
        id_hash=token_hash(secret),
        user_id=principal.user_id,
        token_id=api_row.id if api_row else None,
        source_hash=token_hash(token),
        expires_at=utcnow() + timedelta(seconds=ttl_s),
    )
    session.add(row)
    session.flush()
    return _session_principal(principal, row), secret


def _session_principal(principal: Principal, row: UserSession) -> Principal:
    return Principal(
        principal.name, principal.admin, principal.user_id, row.id, _aware(row.expires_at)
    )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # SQLite drops the zone


def principal_for_session(session: Session, secret: str, api_token: str | None) -> Principal | None:
    """Whose live session the cookie is: not expired, not signed out, and its user, the
    token it was made from (or RUNBOARD_API_TOKEN, unchanged) all still in force."""
    digest = token_hash(secret)
    row = session.exec(
        select(UserSession).where(
            UserSession.id_hash == digest, col(UserSession.revoked_at).is_(None)
        )
    ).first()
    if row is None or _aware(row.expires_at) <= utcnow():
        return None
    if row.user_id is None:  # the bootstrap admin's
        if api_token is None or not hmac.compare_digest(row.source_hash, token_hash(api_token)):
            return None
        return _session_principal(Principal(BOOTSTRAP_NAME, admin=True), row)
    user = session.get(User, row.user_id)
    token = session.get(ApiToken, row.token_id) if row.token_id is not None else None
    if user is None or user.revoked_at is not None or token is None or token.revoked_at:
        return None
    return _session_principal(Principal(user.name, user.admin, user.id), row)


def end_session(session: Session, session_id: int) -> None:
    row = session.get(UserSession, session_id)
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)
        session.flush()
