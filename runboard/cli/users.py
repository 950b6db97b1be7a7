"""`runboard users add|list|token|revoke`: named users in the database that `serve` uses
(RUNBOARD_DATABASE_URL), written directly: it works offline and before any admin exists.

A new token goes to stdout alone (`TOKEN=$(runboard users add ada)`), what it is to stderr;
it is shown this once, since only its hash is stored.
"""

from __future__ import annotations

import argparse
import sys

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from backend.app.core.config import Settings
from backend.app.core.db import make_engine, migrate
from backend.app.crud import users
from backend.app.crud.errors import Conflict, NotFound
from runboard.cli.errors import CliError


def _show_token(message: str, token: str) -> None:
    print(f"{message}; its API token, shown this once:", file=sys.stderr)
    print(token)


def _list(session: Session) -> None:
    rows = [users.user_view(session, user) for user in users.list_users(session)]
    if not rows:
        print("no users yet: runboard users add NAME [--admin]", file=sys.stderr)
        return
    print(f"{'name':<32} {'role':<6} {'tokens':>6}  {'created':<16}  revoked")
    for row in rows:
        role = "admin" if row.admin else "member"
        revoked = row.revoked_at.strftime("%Y-%m-%d %H:%M") if row.revoked_at else "-"
        created = row.created_at.strftime("%Y-%m-%d %H:%M")
        print(f"{row.name:<32} {role:<6} {row.tokens:>6}  {created:<16}  {revoked}")


def _act(session: Session, args: argparse.Namespace) -> None:
    if args.action == "list":
        _list(session)
        return
    if args.action == "add":
        user, token = users.add_user(session, args.name, admin=args.admin)
        session.commit()
        _show_token(f"added {user.name} ({'admin' if user.admin else 'member'})", token)
        return
    user = users.get_user(session, args.name)
    if args.action == "token":
        token = users.add_token(session, user)
        session.commit()
        _show_token(f"a new token for {user.name}", token)
        return
    users.revoke_user(session, user)
    session.commit()
    print(f"revoked {user.name}: its tokens and sessions no longer work", file=sys.stderr)


def run_users(args: argparse.Namespace) -> int:
    settings = Settings()
    try:
        engine = make_engine(settings.database_url)
        migrate(engine)
        with Session(engine) as session:
            _act(session, args)
    except (Conflict, NotFound) as exc:
        raise CliError(str(exc)) from None
    except SQLAlchemyError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CliError(f"the database at RUNBOARD_DATABASE_URL: {first}") from None
    return 0
