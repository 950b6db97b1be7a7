"""Liveness: the API answers and its database does too."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import text

from backend.app.api.deps import SessionDep

router = APIRouter(tags=["health"])


@router.get("/health")
def health(session: SessionDep) -> dict[str, Any]:
    session.execute(text("SELECT 1"))
    return {"status": "ok", "database": session.get_bind().dialect.name}
