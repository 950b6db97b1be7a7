"""Wakes live streams when the event log grows.

Writers (sync routes in the thread pool, the watchdog) call `notify()` after committing;
each open SSE stream waits on its own asyncio.Event and then reads the log from its last
id. Nothing polls: a stream sleeps until woken or until its keep-alive is due.
"""

from __future__ import annotations

import asyncio


class EventBus:
    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: set[asyncio.Event] = set()

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

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
        """Safe from any thread: wakes every stream on the server's event loop."""
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
