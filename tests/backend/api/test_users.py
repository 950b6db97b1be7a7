"""Named users and their roles, on SQLite and PostgreSQL: members launch and change their
own runs, admins any run and the users; a revoked token stops at once; RUNBOARD_AUTH picks
what needs signing in (`all` hides reading too). Sessions and CSRF: test_sessions.py; the
streams under `all` and revocation across processes: tests/runboard/cli/test_users.py."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session

from backend.app.crud import users
from tests.backend.api.conftest import MakeClient
from tests.backend.api.helpers import app_engine, db_dump

ADMIN_TOKEN = "bootstrap-admin-token"


def add_user(client: TestClient, name: str, admin: bool = False) -> dict[str, str]:
    """A user made as `runboard users add` makes one; the headers its scripts send."""
    with Session(app_engine(client)) as session:
        _, token = users.add_user(session, name, admin=admin)
        session.commit()
    return {"Authorization": f"Bearer {token}"}


def launch(client: TestClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = client.post("/api/runs", json={"preset": "2", **body}, headers=headers)
    assert response.status_code == 201, response.text
    run: dict[str, Any] = response.json()
    return run


def test_members_change_their_own_runs_and_only_admins_anothers(
    make_client: MakeClient,
) -> None:
    client = make_client()
    ada, bob = add_user(client, "ada"), add_user(client, "bob")
    admin = add_user(client, "root", admin=True)
    mine, theirs = launch(client, ada), launch(client, bob)
    assert (mine["created_by"], theirs["created_by"]) == ("ada", "bob")
    other = f"/api/runs/{theirs['id']}"

    before = db_dump(app_engine(client))
    refused = [
        client.patch(other, json={"name": "mine now"}, headers=ada),
        client.post(f"{other}/cancel", headers=ada),
        client.delete(other, headers=ada),
    ]
    assert [r.status_code for r in refused] == [403, 403, 403]
    assert all("bob's" in r.json()["detail"] for r in refused)
    assert db_dump(app_engine(client)) == before

    clone = client.post(f"{other}/clone", headers=ada)  # anyone may copy a config
    assert clone.status_code == 201 and clone.json()["created_by"] == "ada"
    own = f"/api/runs/{mine['id']}"
    assert client.patch(own, json={"notes": "n"}, headers=ada).status_code == 200
    cancelled = client.post(f"{own}/cancel", headers=ada).json()
    assert (cancelled["status"], cancelled["cancelled_by"]) == ("cancelled", "ada")
    assert client.delete(own, headers=ada).status_code == 204  # a member deletes its own

    by_admin = client.post(f"{other}/cancel", headers=admin).json()
    assert by_admin["cancelled_by"] == "root" and by_admin["created_by"] == "bob"
    assert client.delete(other, headers=admin).status_code == 204
    group = client.post("/api/groups", json={"name": "g", "runs": [{"preset": "2"}]}, headers=bob)
    assert group.json()["created_by"] == "bob" and group.json()["runs"][0]["created_by"] == "bob"


def test_members_cannot_manage_users_and_admins_can(make_client: MakeClient) -> None:
    client = make_client(api_token=ADMIN_TOKEN)
    bootstrap = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    member = add_user(client, "ada")
    before = db_dump(app_engine(client))
    attempts = [
        client.get("/api/users", headers=member),
        client.post("/api/users", json={"name": "eve", "admin": True}, headers=member),
        client.post("/api/users/ada/tokens", headers=member),
        client.post("/api/users/ada/revoke", headers=member),
    ]
    assert [r.status_code for r in attempts] == [403] * 4
    assert client.get("/api/users").status_code == 401
    assert db_dump(app_engine(client)) == before

    made = client.post("/api/users", json={"name": "grace"}, headers=bootstrap)
    assert made.status_code == 201
    grace = {"Authorization": f"Bearer {made.json()['token']}"}
    assert launch(client, grace)["created_by"] == "grace"
    second = client.post("/api/users/grace/tokens", headers=bootstrap).json()["token"]
    listed = {u["name"]: u for u in client.get("/api/users", headers=bootstrap).json()}
    assert listed["grace"]["tokens"] == 2 and listed["ada"]["admin"] is False
    assert ADMIN_TOKEN not in str(listed) and second not in str(listed)

    assert client.post("/api/users", json={"name": "grace"}, headers=bootstrap).status_code == 409
    assert client.post("/api/users", json={"name": "admin"}, headers=bootstrap).status_code == 409
    bad = client.post("/api/users", json={"name": "Grace Hopper"}, headers=bootstrap)
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "name"]
    assert client.post("/api/users/nobody/revoke", headers=bootstrap).status_code == 404


def test_a_revoked_user_is_refused_at_once_on_every_token(make_client: MakeClient) -> None:
    client = make_client(api_token=ADMIN_TOKEN)
    first = add_user(client, "ada")
    second = client.post(
        "/api/users/ada/tokens", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    ).json()["token"]
    launch(client, first)
    launch(client, {"Authorization": f"Bearer {second}"})

    revoked = client.post(
        "/api/users/ada/revoke", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    assert revoked.status_code == 200 and revoked.json()["tokens"] == 0

    for headers in (first, {"Authorization": f"Bearer {second}"}):
        refused = client.post("/api/runs", json={"preset": "2"}, headers=headers)
        assert refused.status_code == 401, refused.text
        assert (
            client.post("/api/session", json={"token": headers["Authorization"][7:]}).status_code
            == 401
        )


def test_the_runs_list_filters_by_owner(make_client: MakeClient) -> None:
    client = make_client()
    ada, bob = add_user(client, "ada"), add_user(client, "bob")
    ids = [launch(client, ada)["id"], launch(client, bob)["id"], launch(client, ada)["id"]]

    def owned(owner: str) -> list[int]:
        page = client.get("/api/runs", params={"owner": owner, "order": "asc"}).json()
        return [run["id"] for run in page["items"]]

    assert owned("ada") == [ids[0], ids[2]] and owned("bob") == [ids[1]]
    assert owned("carol") == []
    bad = client.get("/api/runs", params={"owner": "Not A Name"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "owner"]


def test_auth_is_off_until_a_user_exists_and_then_changes_need_a_token(
    make_client: MakeClient,
) -> None:
    client = make_client()
    assert client.get("/api/session").json() == {
        "auth": "off",
        "user": None,
        "admin": False,
        "expires_at": None,
    }
    assert launch(client, {})["created_by"] is None  # today's loopback behaviour
    create = client.get("/openapi.json").json()["paths"]["/api/runs"]["post"]

    ada = add_user(client, "ada")
    assert client.get("/api/session").json()["auth"] == "writes"
    assert client.post("/api/runs", json={"preset": "2"}).status_code == 401
    assert client.get("/api/runs").status_code == 200  # reading stays open
    assert launch(client, ada)["created_by"] == "ada"
    secured = client.get("/openapi.json").json()["paths"]["/api/runs"]["post"]
    assert {} in create["security"] and {} not in secured["security"]
    assert "401" not in create["responses"] and "401" in secured["responses"]
    assert make_client(auth="off").post("/api/runs", json={"preset": "2"}).status_code == 201


def test_auth_all_hides_runs_groups_and_metrics_from_anonymous_clients(
    make_client: MakeClient,
) -> None:
    client = make_client(auth="all")
    ada = add_user(client, "ada")
    run = launch(client, ada)["id"]
    group = client.post("/api/groups", json={"name": "g", "runs": [{"preset": "2"}]}, headers=ada)
    hidden = [
        "/api/runs",
        f"/api/runs/{run}",
        f"/api/runs/{run}/metrics",
        f"/api/runs/{run}/metrics.csv",
        f"/api/compare?ids={run}",
        f"/api/groups/{group.json()['id']}",
        "/api/presets",
        "/api/stream",
        f"/api/runs/{run}/stream",
        "/api/runs/999/stream",  # no telling which runs exist either
    ]
    for path in hidden:
        response = client.get(path)
        assert response.status_code == 401, (path, response.text)
        assert str(run) not in response.text.replace(path, "")
        if "stream" not in path:
            assert client.get(path, headers=ada).status_code == 200, path
    assert client.get("/api/health").status_code == 200
    assert client.get("/api/session").json()["auth"] == "all"
