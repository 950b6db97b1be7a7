"""Dashboard sessions, on SQLite and PostgreSQL: a token exchanged for an HttpOnly,
SameSite=Strict cookie with an expiry (Secure over HTTPS); changes made with the cookie
need the dashboard's header and this site's Origin, so a cross-site form is refused while
bearer-token scripts are not affected; signing out, expiry and revocation end it at once.
(The same, in Chromium from a page of another origin: tests/frontend/test_signin.py.)"""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from backend.app.api.auth import SESSION_COOKIE
from backend.app.models import UserSession, utcnow
from tests.backend.api.conftest import MakeClient
from tests.backend.api.helpers import app_engine, db_dump
from tests.backend.api.test_users import ADMIN_TOKEN, add_user

DASHBOARD = {"X-Requested-With": "runboard"}  # what api.js sends with every call


def sign_in(client: TestClient, token: str) -> str:
    response = client.post("/api/session", json={"token": token}, headers=DASHBOARD)
    assert response.status_code == 200, response.text
    cookie = response.headers["set-cookie"]
    return cookie


def test_signing_in_sets_a_strict_http_only_cookie_with_an_expiry(
    make_client: MakeClient,
) -> None:
    client = make_client(session_ttl_s=3600)
    token = add_user(client, "ada")["Authorization"][7:]

    cookie = sign_in(client, token)
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "max-age", "path", "samesite"} <= attributes
    assert "samesite=strict" in cookie.lower() and "max-age=3600" in cookie.lower()
    assert "secure" not in attributes  # plain http: a Secure cookie would never come back
    assert token not in cookie
    me = client.get("/api/session").json()
    assert (me["user"], me["admin"], me["auth"]) == ("ada", False, "writes")
    assert me["expires_at"] is not None

    https = TestClient(client.app, base_url="https://runboard.example")  # as behind TLS
    assert (
        "; secure"
        in https.post("/api/session", json={"token": token}).headers["set-cookie"].lower()
    )

    for body in ({"token": "not-a-token"}, {"token": token + "x"}):
        assert client.post("/api/session", json=body).status_code == 401
    bad = client.post("/api/session", json={"token": ""})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "token"]


def test_the_cookie_makes_changes_only_from_this_sites_own_pages(
    make_client: MakeClient,
) -> None:
    client = make_client()
    ada = add_user(client, "ada")
    sign_in(client, ada["Authorization"][7:])
    host = "testserver"

    launched = client.post(
        "/api/runs", json={"preset": "2"}, headers={**DASHBOARD, "Origin": f"http://{host}"}
    )
    assert launched.status_code == 201 and launched.json()["created_by"] == "ada"
    run = launched.json()["id"]
    proxied = {**DASHBOARD, "Origin": "https://runboard.lab.example"}
    behind_proxy = {**proxied, "X-Forwarded-Host": "runboard.lab.example"}
    assert client.patch(f"/api/runs/{run}", json={"notes": "p"}, headers=behind_proxy).is_success

    before = db_dump(app_engine(client))
    forged = [  # a cross-site form: no header of ours, a foreign Origin, or both
        client.post("/api/runs", data={"preset": "2"}, headers={"Origin": "http://evil.example"}),
        client.post("/api/runs", json={"preset": "2"}),
        client.post(
            "/api/runs",
            json={"preset": "2"},
            headers={**DASHBOARD, "Origin": "http://evil.example"},
        ),
        client.delete(f"/api/runs/{run}", headers={"Origin": "null"}),
        client.post(f"/api/runs/{run}/cancel", headers={**DASHBOARD, "Origin": f"http://{host}:1"}),
    ]
    assert [r.status_code for r in forged] == [403] * len(forged)
    assert "cross-site" in forged[0].json()["detail"]
    assert db_dump(app_engine(client)) == before
    assert client.get(f"/api/runs/{run}").status_code == 200  # reading needs no header

    script = client.post(
        "/api/runs", json={"preset": "2"}, headers={**ada, "Origin": "http://evil.example"}
    )
    assert script.status_code == 201  # a bearer token is never sent by a browser by itself


def test_signing_out_expiry_and_revocation_end_a_session_at_once(
    make_client: MakeClient,
) -> None:
    client = make_client(api_token=ADMIN_TOKEN)
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    ada = add_user(client, "ada")["Authorization"][7:]
    engine = app_engine(client)

    def change() -> int:
        return client.post("/api/runs", json={"preset": "2"}, headers=DASHBOARD).status_code

    sign_in(client, ada)
    assert change() == 201
    assert client.delete("/api/session", headers=DASHBOARD).status_code == 204
    assert change() == 401 and client.get("/api/session").json()["user"] is None

    cookie = sign_in(client, ada).split(";")[0].split("=", 1)[1]
    client.post("/api/users/ada/revoke", headers=admin)
    assert change() == 401
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, cookie)
    assert change() == 401  # the cookie itself is dead, not just forgotten by this client

    client.cookies.clear()
    sign_in(client, ADMIN_TOKEN)  # the bootstrap admin signs in too
    assert change() == 201 and client.get("/api/session").json()["user"] == "admin"
    with Session(engine) as session:
        for row in session.exec(select(UserSession)).all():
            row.expires_at = utcnow() - timedelta(seconds=1)
            session.add(row)
        session.commit()
    assert change() == 401

    sign_in(client, ADMIN_TOKEN)
    rotated = make_client(api_token="a-new-bootstrap-token")  # RUNBOARD_API_TOKEN changed
    rotated.cookies = client.cookies
    status = rotated.post("/api/runs", json={"preset": "2"}, headers=DASHBOARD).status_code
    assert status == 401
    with Session(engine) as session:
        stored = {row.id_hash for row in session.exec(select(UserSession)).all()}
    assert cookie not in stored and ada not in stored  # only hashes are kept
