"""Hosts made of Linux network namespaces, for tests across machines with faults.

One `api` host (Redis, the API processes) and two worker hosts (`w1`, `w2`), each joined to
the api host by its own veth pair on a private 10.x subnet; the test process (the root
namespace, where the browser-like clients run) reaches the api host by a third. Names end
in a random suffix; everything is removed in the fixture's finalizer, even on failure.
Cutting a worker host's link takes both ends of its pair down; restoring brings them up.

PostgreSQL runs on the machine's loopback, which no namespace reaches: a small relay in
the test process forwards the api host's connections to it over the root link.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.backend.conftest import postgres_server  # noqa: F401  (a fixture, used here too)
from tests.support.live import RUNBOARD, clean_env

POSTGRES_PORT = 5432
WORKER_START_S = 120.0  # torch and Celery import slowly on a shared machine


def _ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")


@dataclass
class Hosts:
    suffix: str
    net: int  # the second octet: 10.<net>.0.0/24 root link, .1 to w1, .2 to w2
    root: Path
    namespaces: dict[str, str] = field(default_factory=dict)  # host -> netns name
    links: dict[str, tuple[str, str]] = field(default_factory=dict)  # host -> (api end, its end)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    # 10.N.0.1 is the test process, 10.N.0.2 the api host as the test reaches it;
    # 10.N.K.1 is the api host as worker host wK reaches it.
    @property
    def api_from_tests(self) -> str:
        return f"10.{self.net}.0.2"

    @property
    def tests_from_api(self) -> str:
        return f"10.{self.net}.0.1"

    def api_from(self, host: str) -> str:
        return f"10.{self.net}.{host[1:]}.1"

    def exec_prefix(self, host: str) -> tuple[str, ...]:
        return ("ip", "netns", "exec", self.namespaces[host])

    def cut(self, host: str) -> None:
        api_end, far_end = self.links[host]
        _ip("-n", self.namespaces["api"], "link", "set", api_end, "down")
        _ip("-n", self.namespaces[host], "link", "set", far_end, "down")

    def restore(self, host: str) -> None:
        api_end, far_end = self.links[host]
        _ip("-n", self.namespaces["api"], "link", "set", api_end, "up")
        _ip("-n", self.namespaces[host], "link", "set", far_end, "up")

    def spawn(
        self, host: str, argv: list[str], env: dict[str, str], log: Path
    ) -> subprocess.Popen[bytes]:
        """A process on `host`, in its own session (stopped with its group at the end)."""
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [*self.exec_prefix(host), *argv],
                cwd=self.root,
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append(process)
        return process

    def worker(self, host: str, name: str, api_port: int, broker_port: int, db: int) -> Path:
        """A real `runboard worker` on `host`; returns its log file."""
        env = clean_env(
            RUNBOARD_API_URL=f"http://{self.api_from(host)}:{api_port}",
            RUNBOARD_BROKER_URL=f"redis://{self.api_from(host)}:{broker_port}/{db}",
            RUNBOARD_CHECKPOINT_DIR=str(self.root / "checkpoints"),  # shared, as on NFS
            RUNBOARD_DATA_DIR=str(self.root / "data"),
            RUNBOARD_DATA_DOWNLOAD="0",
            PYTHONUNBUFFERED="1",
        )
        log = self.root / f"worker-{name}.log"
        self.spawn(host, [RUNBOARD, "worker", "--name", f"{name}@{host}"], env, log)
        return log

    def close(self) -> None:
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process in self.processes:
            try:
                process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        for namespace in self.namespaces.values():
            with contextlib.suppress(RuntimeError):
                _ip("netns", "del", namespace)
        with contextlib.suppress(RuntimeError):  # the root end of the api host's pair
            _ip("link", "del", f"rb{self.suffix}r0")


def _free_subnet() -> int:
    routes = subprocess.run(["ip", "route"], capture_output=True, text=True, timeout=10).stdout
    for _ in range(50):
        net = 200 + secrets.randbelow(50)
        if f"10.{net}." not in routes:
            return net
    raise RuntimeError("no free 10.x subnet")


def _build(hosts: Hosts) -> None:
    sfx = hosts.suffix
    for host in ("api", "w1", "w2"):
        name = f"rb-{host}-{sfx}"
        _ip("netns", "add", name)
        hosts.namespaces[host] = name
        _ip("-n", name, "link", "set", "lo", "up")
    api = hosts.namespaces["api"]
    # the test process <-> the api host
    _ip("link", "add", f"rb{sfx}r0", "type", "veth", "peer", "name", f"rb{sfx}a0")
    _ip("link", "set", f"rb{sfx}a0", "netns", api)
    _ip("addr", "add", f"{hosts.tests_from_api}/24", "dev", f"rb{sfx}r0")
    _ip("link", "set", f"rb{sfx}r0", "up")
    _ip("-n", api, "addr", "add", f"{hosts.api_from_tests}/24", "dev", f"rb{sfx}a0")
    _ip("-n", api, "link", "set", f"rb{sfx}a0", "up")
    for index, host in ((1, "w1"), (2, "w2")):  # each worker host <-> the api host
        near, far = f"rb{sfx}a{index}", f"rb{sfx}w{index}"
        _ip("link", "add", near, "type", "veth", "peer", "name", far)
        _ip("link", "set", near, "netns", api)
        _ip("link", "set", far, "netns", hosts.namespaces[host])
        _ip("-n", api, "addr", "add", f"10.{hosts.net}.{index}.1/24", "dev", near)
        _ip("-n", hosts.namespaces[host], "addr", "add", f"10.{hosts.net}.{index}.2/24", "dev", far)
        _ip("-n", api, "link", "set", near, "up")
        _ip("-n", hosts.namespaces[host], "link", "set", far, "up")
        hosts.links[host] = (near, far)


@pytest.fixture(scope="package")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hosts]:
    if shutil.which("ip") is None:
        pytest.fail("network namespaces cannot be made: iproute2's `ip` is not installed")
    made = Hosts(secrets.token_hex(2), _free_subnet(), tmp_path_factory.mktemp("hosts"))
    (made.root / "data").mkdir()
    try:
        try:
            _build(made)
        except RuntimeError as exc:
            pytest.fail(f"network namespaces cannot be made here (run as root): {exc}")
        yield made
    finally:
        made.close()


class Relay:
    """Forwards TCP connections from `listen` to `target` (PostgreSQL on loopback)."""

    def __init__(self, listen: tuple[str, int], target: tuple[str, int]) -> None:
        self.target = target
        self.server = socket.create_server(listen)
        self.port: int = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:  # closed
                return
            upstream = socket.create_connection(self.target)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self.server.close()


@pytest.fixture(scope="package")
def postgres_relay(hosts: Hosts) -> Iterator[Relay]:
    relay = Relay((hosts.tests_from_api, 0), ("127.0.0.1", POSTGRES_PORT))
    try:
        yield relay
    finally:
        relay.close()
