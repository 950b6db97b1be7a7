"""Users (admins only, whatever RUNBOARD_AUTH says): add, list, a further token, revoke.

`runboard users ...` does the same on the database directly, which needs no admin yet."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, status

from backend.app.api.auth import AdminDep
from backend.app.api.deps import BODY_ERRORS, SessionDep, errors
from backend.app.contract import USER_NAME
from backend.app.crud import users
from backend.app.models import UserCreate, UserPublic, UserToken

router = APIRouter(prefix="/users", tags=["users"])
UserNamePath = Annotated[
    str, Path(max_length=32, pattern=USER_NAME, description="a user's name", examples=["ada"])
]
USER_EXAMPLE = {
    "a member": {"value": {"name": "ada"}},
    "an admin": {"value": {"name": "grace", "admin": True}},
}


@router.get("", responses=errors(401, 403))
def list_users(admin: AdminDep, session: SessionDep) -> list[UserPublic]:
    """Every user, revoked ones too (their names are not reused)."""
    return [users.user_view(session, user) for user in users.list_users(session)]


@router.post("", status_code=status.HTTP_201_CREATED, responses=errors(401, 403, 409, *BODY_ERRORS))
def create_user(
    data: Annotated[UserCreate, Body(openapi_examples=USER_EXAMPLE)],
    admin: AdminDep,
    session: SessionDep,
) -> UserToken:
    """A new user and its first API token, shown this once."""
    user, token = users.add_user(session, data.name, admin=data.admin)
    session.commit()
    return UserToken(name=user.name, token=token)


@router.post(
    "/{name}/tokens", status_code=status.HTTP_201_CREATED, responses=errors(401, 403, 404, 409)
)
def create_token(name: UserNamePath, admin: AdminDep, session: SessionDep) -> UserToken:
    """Another API token for the user (one per script), shown this once."""
    user = users.get_user(session, name)
    token = users.add_token(session, user)
    session.commit()
    return UserToken(name=user.name, token=token)


@router.post("/{name}/revoke", responses=errors(401, 403, 404))
def revoke_user(name: UserNamePath, admin: AdminDep, session: SessionDep) -> UserPublic:
    """Revoke the user's tokens and sessions: they stop working with the next request."""
    user = users.get_user(session, name)
    users.revoke_user(session, user)
    session.commit()
    return users.user_view(session, user)
