"""Wakes live streams when the event log grows, in this API process and in the others.

Writers (sync routes in the thread pool, the watchdog) call `notify()` after committing;
each open SSE stream waits on its own asyncio.Event and then reads the log from its last
id. Nothing polls: a stream sleeps until woken or until its keep-alive is due.

With several API processes (`runboard serve --api-workers N`, replicas on other machines)
a commit in one must wake the streams of all: a `Relay` carries each notify to the others,
through PostgreSQL's LISTEN/NOTIFY when the database is PostgreSQL, else through Redis
pub/sub when the broker is Redis. SQLite without Redis means one process: no relay.
A relay coalesces bursts (one message per wake-up of its sender thread, not per commit)
and, after losing its connection, wakes every stream once it is back (a notify may have
been missed; the streams then read the log, which is the truth).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
from typing import Any, Protocol

log = logging.getLogger("runboard.api")
CHANNEL = "runboard_events"
RECONNECT_S = 1.0  # between two tries to reach the database or Redis again
POLL_S = 1.0  # how long the listener blocks before it looks whether it should stop


class Relay(Protocol):
    def start(self, on_remote: Any) -> None: ...
    def publish(self) -> None: ...
    def stop(self) -> None: ...


class EventBus:
    def __init__(self, relay: Relay | None = None) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: set[asyncio.Event] = set()
        self.relay = relay

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        if self.relay is not None:
            self.relay.start(self.wake_local)

    def close(self) -> None:
        if self.relay is not None:
            self.relay.stop()

    def subscribe(self) -> asyncio.Event:
        wake = asyncio.Event()
        self._waiters.add(wake)
        return wake

    def unsubscribe(self, wake: asyncio.Event) -> None:
        self._waiters.discard(wake)

    @property
    def subscribers(self) -> int:
        return len(self._waiters)

    def notify(self) -> None:
        """Safe from any thread: wakes every stream here and, through the relay, elsewhere."""
        self.wake_local()
        if self.relay is not None:
            self.relay.publish()

    def wake_local(self) -> None:
        """Wakes this process's streams only (what the relay calls for other processes)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake_all()
        else:
            loop.call_soon_threadsafe(self._wake_all)

    def _wake_all(self) -> None:
        for wake in self._waiters:
            wake.set()


class _ThreadRelay:
    """A sender thread (coalescing publishes) and a listener thread, each with its own
    connection, reconnecting for ever; subclasses say how to connect, send and receive."""

    def __init__(self) -> None:
        self._pending = threading.Event()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self, on_remote: Any) -> None:
        self._on_remote = on_remote
        for target, name in ((self._send_loop, "bus-send"), (self._listen_loop, "bus-listen")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def publish(self) -> None:
        self._pending.set()

    def stop(self) -> None:
        self._stopping.set()
        self._pending.set()
        for thread in self._threads:
            thread.join(POLL_S + 2)

    def _send_loop(self) -> None:
        sender: Any = None
        while not self._stopping.is_set():
            self._pending.wait()
            if self._stopping.is_set():
                break
            self._pending.clear()
            try:
                sender = sender or self._connect_sender()
                self._send(sender)
            except Exception as exc:
                log.warning("event bus: cannot notify the other API processes (%s)", exc)
                self._close(sender)
                sender = None
                self._pending.set()  # send again once connected
                self._stopping.wait(RECONNECT_S)
        self._close(sender)

    def _listen_loop(self) -> None:
        while not self._stopping.is_set():
            listener: Any = None
            try:
                listener = self._connect_listener()
                self._on_remote()  # anything sent while we were away is in the log
                while not self._stopping.is_set():
                    if self._receive(listener):
                        self._on_remote()
            except Exception as exc:
                log.warning("event bus: lost the other API processes' notifies (%s)", exc)
                self._stopping.wait(RECONNECT_S)
            finally:
                self._close(listener)

    def _close(self, connection: Any) -> None:
        if connection is not None:
            try:
                connection.close()
            except Exception:  # already broken: nothing to release
                log.debug("event bus: closing a broken connection failed", exc_info=True)

    def _connect_sender(self) -> Any:
        raise NotImplementedError

    def _connect_listener(self) -> Any:
        raise NotImplementedError

    def _send(self, sender: Any) -> None:
        raise NotImplementedError

    def _receive(self, listener: Any) -> bool:
        """Blocks up to POLL_S; True when another process (or this one) committed."""
        raise NotImplementedError


class PostgresRelay(_ThreadRelay):
    """NOTIFY runboard_events after a commit; LISTEN on a connection of its own."""

    def __init__(self, dsn: str) -> None:
        super().__init__()
        self.dsn = dsn

    def _connect(self) -> Any:
        import psycopg

        return psycopg.connect(self.dsn, autocommit=True, connect_timeout=5)

    def _connect_sender(self) -> Any:
        return self._connect()

    def _connect_listener(self) -> Any:
        connection = self._connect()
        connection.execute(f"LISTEN {CHANNEL}")
        return connection

    def _send(self, sender: Any) -> None:
        sender.execute(f"NOTIFY {CHANNEL}")

    def _receive(self, listener: Any) -> bool:
        return any(True for _ in listener.notifies(timeout=POLL_S, stop_after=64))


class RedisRelay(_ThreadRelay):
    """PUBLISH on a channel named for the database, so deployments sharing a Redis (or
    tests sharing one) wake only their own streams."""

    def __init__(self, url: str, database_url: str) -> None:
        super().__init__()
        self.url = url
        digest = hashlib.sha256(database_url.encode()).hexdigest()[:16]
        self.channel = f"runboard:events:{digest}"

    def _connect_sender(self) -> Any:
        import redis

        return redis.Redis.from_url(self.url, socket_connect_timeout=5, socket_timeout=5)

    def _connect_listener(self) -> Any:
        pubsub = self._connect_sender().pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(self.channel)
        return pubsub

    def _send(self, sender: Any) -> None:
        sender.publish(self.channel, b"1")

    def _receive(self, listener: Any) -> bool:
        return listener.get_message(timeout=POLL_S) is not None


def libpq_dsn(database_url: str) -> str | None:
    """The psycopg connection string of a PostgreSQL SQLAlchemy URL, else None."""
    scheme, sep, rest = database_url.partition("://")
    if not sep or scheme.split("+")[0] not in ("postgresql", "postgres"):
        return None
    return f"postgresql://{rest}"


def make_relay(database_url: str, broker_url: str | None) -> Relay | None:
    """PostgreSQL's LISTEN/NOTIFY, else Redis pub/sub, else none (one process)."""
    dsn = libpq_dsn(database_url)
    if dsn is not None:
        return PostgresRelay(dsn)
    if broker_url and broker_url.startswith(("redis://", "rediss://")):
        return RedisRelay(broker_url, database_url)
    return None
