"""Server-Sent Events as the tests read them: parsed by the tests' own reading of the spec
(`parse_sse`), followed in a thread (`SseReader`) with bounded waits."""

from __future__ import annotations

import contextlib
import json
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from tests.support.live import http
from worker.client import SseEvent

__all__ = ["SseEvent", "SseReader", "is_status", "parse_sse", "payload"]


def parse_sse(lines: Iterator[str]) -> Iterator[SseEvent]:
    """text/event-stream lines as a browser's EventSource reads them: no event for a block
    without data, the last id carried over, comments skipped (the reader counts them).

    The tests' own reading of the spec, so the server is checked against it rather than
    against the library the product's clients use (httpx-sse). It also reads each line the
    moment it arrives: feeding counted lines back through httpx-sse held events back by
    up to an epoch of a small run, enough to fail the live-stream assertions."""
    event_id: str | None = None
    kind, data = "message", list[str]()
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            if data:
                yield SseEvent(event=kind, data="\n".join(data), id=event_id)
            kind, data = "message", []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "data":
            data.append(value)
        elif field == "event":
            kind = value
        elif field == "id":
            event_id = value


def payload(event: SseEvent) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(event.data)
    return data


class SseReader:
    """Follows one SSE stream in a thread, parsed by `parse_sse` as EventSource would parse it.

    Events queue up for `take`/`read_until`, which wait a bounded time; comment lines
    (keep-alives) are counted. `close()` stops the thread within a keep-alive period."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        self.url = url
        self.events: queue.Queue[SseEvent] = queue.Queue()
        self.comments: list[str] = []
        self.status_code: int | None = None
        self.error: BaseException | None = None
        self._connected = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(headers or {},), daemon=True)

    def __enter__(self) -> SseReader:
        self._thread.start()
        try:
            assert self._connected.wait(15), f"no response from {self.url}"
            assert self.status_code == 200, f"{self.url}: HTTP {self.status_code} ({self.error})"
        except AssertionError:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        assert not self._thread.is_alive(), "the stream reader did not stop"

    def _lines(self, response: httpx.Response) -> Iterator[str]:
        for line in response.iter_lines():
            if self._stop.is_set():
                return
            if line.startswith(":"):
                self.comments.append(line)
            yield line

    def _read(self, headers: dict[str, str]) -> None:
        try:
            with http.stream("GET", self.url, headers=headers) as response:
                self.status_code = response.status_code
                self._connected.set()
                if response.status_code == 200:
                    for event in parse_sse(self._lines(response)):
                        self.events.put(event)
        except BaseException as exc:  # reported by the waits below
            self.error = exc
        finally:
            self._connected.set()

    def _next(self, deadline: float, seen: list[SseEvent]) -> SseEvent:
        try:
            return self.events.get(timeout=max(deadline - time.monotonic(), 0.01))
        except queue.Empty:
            kinds = [(event.event, event.id) for event in seen]
            raise AssertionError(
                f"{self.url}: stream stalled after {kinds} ({self.error})"
            ) from None

    def take(self, count: int, timeout: float = 15.0) -> list[SseEvent]:
        """The next `count` events."""
        deadline = time.monotonic() + timeout
        got: list[SseEvent] = []
        while len(got) < count:
            got.append(self._next(deadline, got))
        return got

    def read_until(self, done: Callable[[SseEvent], bool], timeout: float = 15.0) -> list[SseEvent]:
        """Events up to and including the first one for which `done` is true."""
        deadline = time.monotonic() + timeout
        got: list[SseEvent] = []
        while not got or not done(got[-1]):
            got.append(self._next(deadline, got))
        return got

    def quiet(self, seconds: float) -> list[SseEvent]:
        """Whatever arrives in the next `seconds` (expected: nothing)."""
        time.sleep(seconds)
        got: list[SseEvent] = []
        with contextlib.suppress(queue.Empty):
            while True:
                got.append(self.events.get_nowait())
        return got


def is_status(status: str) -> Callable[[SseEvent], bool]:
    return lambda event: event.event == "status" and payload(event)["status"] == status
