"""`runboard serve` as a real process: it answers over HTTP, keeps runs across restarts,
stops on SIGTERM and, unless told otherwise, listens on loopback only."""

from __future__ import annotations

import fcntl
import signal
import socket
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from backend.app.core.config import Settings
from tests.support.live import ServerProcess, create_run, http, run_server, stop_server

pytestmark = pytest.mark.timeout(90)
SIOCGIFADDR = 0x8915  # Linux ioctl: an interface's IPv4 address


def own_non_loopback_ipv4() -> list[str]:
    """This machine's own IPv4 addresses, loopback excepted, read from its interfaces."""
    found = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _, name in socket.if_nameindex():
            request = struct.pack("256s", name[:15].encode())
            try:
                reply = fcntl.ioctl(sock.fileno(), SIOCGIFADDR, request)
            except OSError:  # no IPv4 address on this interface
                continue
            address = socket.inet_ntoa(reply[20:24])
            if not address.startswith("127."):
                found.append(address)
    return found


def accepts_connections(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def test_server_reports_its_database_dialect_and_serves_runs_created_over_http(
    live_server: str, database_url: str
) -> None:
    health = http.get(f"{live_server}/api/health")
    assert health.status_code == 200
    dialect = make_url(database_url).get_backend_name()
    assert health.json() == {"status": "ok", "database": dialect}

    created = create_run(live_server, overrides={"lr": 0.003, "epochs": 2}, tags=["live"])
    assert created["status"] == "queued"
    assert created["config"]["lr"] == 0.003 and created["epochs"] == 2

    listed = http.get(f"{live_server}/api/runs").json()
    assert listed["total"] == 1
    assert [run["id"] for run in listed["items"]] == [created["id"]]
    assert listed["items"][0]["tags"] == ["live"]

    read = http.get(f"{live_server}/api/runs/{created['id']}").json()
    assert read["name"] == created["name"] and read["config"] == created["config"]


def test_server_shuts_down_gracefully_on_sigterm_and_keeps_runs_across_a_restart(
    start_server: Callable[..., ServerProcess],
) -> None:
    first = start_server()
    created = create_run(first.url, name="before restart")
    # uvicorn shuts down gracefully, then re-raises the signal: exit status 0 or -SIGTERM.
    assert stop_server(first) in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in first.output()
    assert not accepts_connections("127.0.0.1", first.port)

    second = start_server()  # migrates the existing schema again: a no-op
    listed = http.get(f"{second.url}/api/runs").json()
    assert [(run["id"], run["name"]) for run in listed["items"]] == [
        (created["id"], "before restart")
    ]


def test_bind_address_defaults_to_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUNBOARD_HOST", raising=False)
    assert Settings().host == "127.0.0.1"


def test_server_is_not_reachable_on_this_machines_other_addresses_by_default(
    tmp_path: Path,
) -> None:
    addresses = own_non_loopback_ipv4()
    if not addresses:
        pytest.skip("this machine has no non-loopback IPv4 address to try")
    # Control: a socket bound to every address is reachable on these ones from here.
    with socket.create_server(("0.0.0.0", 0)) as control:
        port = control.getsockname()[1]
        assert all(accepts_connections(address, port) for address in addresses)

    with run_server(f"sqlite:///{tmp_path / 'runboard.db'}", tmp_path) as server:
        assert accepts_connections("127.0.0.1", server.port)
        for address in addresses:
            assert not accepts_connections(address, server.port), f"reachable on {address}"
