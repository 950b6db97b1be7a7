"""The dashboard of a shared runboard, in Chromium: a second real server with
RUNBOARD_API_TOKEN set (auth `writes`) and a named member. Launching from the form leads to
the sign-in page and back, and works after signing in; the header shows who is signed in;
the token is kept nowhere scripts can read; a form posted from a page of another origin
(same site: another port of 127.0.0.1, where SameSite alone does not help) is refused."""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.frontend.conftest import WAIT_MS, PageErrors, screenshot
from tests.support.live import ServerProcess, free_port, http, run_server

ADMIN = "frontend-admin-token"
BOOTSTRAP = {"Authorization": f"Bearer {ADMIN}"}


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp("auth-server")
    url = f"sqlite:///{workdir / 'runboard.db'}"
    with run_server(url, workdir, env={"RUNBOARD_API_TOKEN": ADMIN}) as server:
        yield server


@pytest.fixture(scope="module")
def member_token(auth_server: ServerProcess) -> str:
    made = http.post(f"{auth_server.url}/api/users", json={"name": "ada"}, headers=BOOTSTRAP)
    assert made.status_code == 201, made.text
    token: str = made.json()["token"]
    return token


@pytest.fixture
def auth_page(
    browser: Browser, auth_server: ServerProcess, page_errors: PageErrors
) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1440, "height": 900}, base_url=auth_server.url)
    context.set_default_timeout(WAIT_MS)
    tab = context.new_page()
    tab.on("pageerror", lambda error: page_errors.append(str(error)))
    try:
        yield tab
    finally:
        with contextlib.suppress(Exception):
            context.close()
    assert not page_errors, f"script errors in the page: {page_errors}"


def run_count(server: ServerProcess) -> int:
    total: int = http.get(f"{server.url}/api/runs?limit=1").json()["total"]
    return total


def sign_in(page: Page, token: str) -> None:
    page.fill("#signin-token", token)
    page.click("#signin-submit")
    expect(page.locator("#who-name")).to_have_text("ada")


def test_launching_from_the_form_needs_a_sign_in_and_comes_back_to_the_form(
    auth_page: Page, auth_server: ServerProcess, member_token: str
) -> None:
    page = auth_page
    page.goto("/#/launch?preset=2")
    expect(page.locator("#sign-in-link")).to_be_visible()
    before = run_count(auth_server)
    page.click("#launch")

    expect(page).to_have_url(re.compile(r"#/signin\?next="))  # the 401 led here
    assert run_count(auth_server) == before
    page.fill("#signin-token", "not-a-token")
    page.click("#signin-submit")
    expect(page.locator("#signin-error")).to_contain_text("No such token")
    screenshot(page, "signin")
    sign_in(page, member_token)
    expect(page).to_have_url(re.compile(r"#/launch\?preset=2$"))  # back where it was

    page.click("#launch")
    expect(page).to_have_url(re.compile(r"#/run/\d+$"))
    expect(page.locator(".facts")).to_contain_text("ada")
    assert run_count(auth_server) == before + 1
    stored = page.evaluate(
        "() => [document.cookie, JSON.stringify(localStorage), JSON.stringify(sessionStorage)]"
    )
    assert all(member_token not in text for text in stored) and stored[0] == ""  # HttpOnly

    page.goto("/#/runs")
    expect(page.locator("#runs-table td.by").first).to_have_text("ada")
    page.check("#filter-mine")
    expect(page).to_have_url(re.compile(r"owner=ada"))
    page.click("#sign-out")
    expect(page.locator("#sign-in-link")).to_be_visible()
    page.goto("/#/launch?preset=2")
    page.click("#launch")
    expect(page).to_have_url(re.compile(r"#/signin\?next="))  # the session is gone
    assert run_count(auth_server) == before + 1


class _Attacker(BaseHTTPRequestHandler):
    """Serves one page that posts a run-creating form to the target, as JSON-looking text."""

    target = ""

    def do_GET(self) -> None:
        body = (
            f'<form id="evil" method="post" action="{self.target}/api/runs" enctype="text/plain">'
            '<input name=\'{"preset": "2", "x": "\' value=\'"}\'>'
            '<button id="go">go</button></form>'
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def attacker(auth_server: ServerProcess) -> Iterator[str]:
    handler = type("Attacker", (_Attacker,), {"target": auth_server.url})
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_a_form_posted_from_another_origin_is_refused_though_the_browser_sends_the_cookie(
    auth_page: Page, auth_server: ServerProcess, member_token: str, attacker: str, tmp_path: Path
) -> None:
    page = auth_page
    page.goto("/#/signin")
    sign_in(page, member_token)
    before = run_count(auth_server)

    page.goto(attacker)
    with page.expect_response(re.compile(r"/api/runs$")) as answer:
        page.click("#go")
    response = answer.value
    assert response.status == 403, response.text()
    assert "cross-site request refused" in response.text()
    assert "cookie" in response.request.all_headers()  # SameSite=Strict let it through
    assert run_count(auth_server) == before


@pytest.fixture(scope="module")
def private_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp("private-server")
    url = f"sqlite:///{workdir / 'runboard.db'}"
    env = {"RUNBOARD_API_TOKEN": ADMIN, "RUNBOARD_AUTH": "all"}
    with run_server(url, workdir, env=env) as server:
        yield server


def test_a_private_lab_shows_nothing_before_sign_in_and_then_follows_the_runs_live(
    browser: Browser, private_server: ServerProcess, page_errors: PageErrors
) -> None:
    run = http.post(f"{private_server.url}/api/runs", json={"preset": "2"}, headers=BOOTSTRAP)
    assert run.status_code == 201
    context = browser.new_context(base_url=private_server.url)
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    try:
        page.goto(f"/#/run/{run.json()['id']}")
        expect(page).to_have_url(re.compile(r"#/signin\?next=%23%2Frun%2F\d+$"))
        expect(page.locator("#runs-table")).to_have_count(0)
        page.fill("#signin-token", ADMIN)  # the bootstrap admin signs in like anyone
        page.click("#signin-submit")
        expect(page.locator("#who-name")).to_have_text("admin")
        expect(page).to_have_url(re.compile(r"#/run/\d+$"))
        expect(page.locator("#connection")).to_have_attribute("data-state", "live")  # the cookie
        page.goto("/#/runs")
        expect(page.locator("#runs-table tbody tr")).to_have_count(1)
        expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    finally:
        context.close()
    assert not page_errors, page_errors
