"""`runboard users ...` as an admin runs it: real processes on the database of a real server
(SQLite, PostgreSQL) with RUNBOARD_AUTH=all, whose answers change with the next request:
a new user's token reads everything, the streams included, which stay closed to anonymous
clients; revoking the user ends its tokens and its dashboard session at once. Bad input
is one line on stderr and an exit code, and changes nothing."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from backend.app.core.db import make_engine
from runboard.cli.main import main
from tests.backend.api.helpers import db_dump
from tests.support.live import RUNBOARD, ServerProcess, clean_env, http
from tests.support.sse import SseReader

pytestmark = pytest.mark.timeout(90)


def users(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [RUNBOARD, "users", *args],
        env=clean_env(RUNBOARD_DATABASE_URL=database_url),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_users_added_and_revoked_by_the_cli_take_effect_on_a_running_server(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server(RUNBOARD_AUTH="all")
    url = server.url
    added = users(server.database_url, "add", "ada")
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip()
    assert len(token) >= 43 and "shown this once" in added.stderr
    ada = {"Authorization": f"Bearer {token}"}

    run = http.post(f"{url}/api/runs", json={"preset": "2"}, headers=ada)
    assert run.status_code == 201 and run.json()["created_by"] == "ada"
    run_id = run.json()["id"]
    for path in (
        "/api/runs",
        f"/api/runs/{run_id}/metrics",
        "/api/stream",
        f"/api/runs/{run_id}/stream",
    ):
        assert http.get(f"{url}{path}").status_code == 401, path  # anonymous: nothing
    with SseReader(f"{url}/api/stream", ada) as stream:
        assert stream.take(1)[0].event == "ready"
    with SseReader(f"{url}/api/runs/{run_id}/stream", ada) as stream:
        assert stream.take(1)[0].event == "status"

    browser = httpx.Client(base_url=url, headers={"X-Requested-With": "runboard"}, timeout=10)
    assert browser.post("/api/session", json={"token": token}).status_code == 200
    assert browser.get("/api/runs").status_code == 200

    revoked = users(server.database_url, "revoke", "ada")
    assert revoked.returncode == 0 and revoked.stdout == "", revoked.stderr
    assert http.get(f"{url}/api/runs", headers=ada).status_code == 401  # at once
    assert browser.get("/api/runs").status_code == 401
    assert browser.post("/api/runs", json={"preset": "2"}).status_code == 401
    browser.close()

    listed = users(server.database_url, "list")
    assert listed.returncode == 0
    [row] = [line for line in listed.stdout.splitlines() if line.startswith("ada ")]
    assert row.split()[1:3] == ["member", "0"] and row.split()[-1] != "-"


BAD = [
    # argv, exit code, words the one line must contain
    (["users"], 2, "required"),
    (["users", "add"], 2, "name"),
    (["users", "add", "Ada Lovelace"], 2, "a user name is"),
    (["users", "add", "-x"], 2, "required: name"),
    (["users", "add", "a" * 33], 2, "a user name is"),
    (["users", "add", "../ada"], 2, "a user name is"),
    (["users", "add", "ada", "--admin=yes"], 2, "--admin"),
    (["users", "add", "ada"], 1, "user ada exists"),
    (["users", "add", "admin"], 1, "bootstrap admin"),
    (["users", "revoke", "bob"], 1, "user bob does not exist"),
    (["users", "token", "bob"], 1, "user bob does not exist"),
    (["users", "list", "extra"], 2, "unrecognized"),
    (["users", "delete", "ada"], 2, "invalid choice"),
]


@pytest.mark.parametrize(("argv", "code", "words"), BAD, ids=[" ".join(b[0])[:30] for b in BAD])
def test_bad_users_arguments_are_one_line_and_an_exit_code_and_change_nothing(
    argv: list[str],
    code: int,
    words: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    database = f"sqlite:///{tmp_path / 'runboard.db'}"
    monkeypatch.setenv("RUNBOARD_DATABASE_URL", database)
    assert main(["users", "add", "ada"]) == 0
    capsys.readouterr()
    engine = make_engine(database)
    before = db_dump(engine)

    assert main(argv) == code
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1 and words in err, err
    assert db_dump(engine) == before
    engine.dispose()


def test_an_unreachable_database_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RUNBOARD_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    assert main(["users", "list"]) == 1
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "RUNBOARD_DATABASE_URL" in err
