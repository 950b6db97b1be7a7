"""A real webhook receiver for the tests: an HTTP server on a free port."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from tests.support.live import free_port


class WebhookReceiver:
    """A real HTTP server on a free port that records the JSON bodies POSTed to it; the
    first `failures` requests get 500 (a receiver that is briefly down). Use as a context
    manager; `wait(count)` returns the bodies once `count` have arrived."""

    def __init__(self, failures: int = 0) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        receiver = self
        self.failures, self.requests, self.bodies = failures, 0, []  # type: list[Any]
        self._arrived = threading.Condition()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._arrived:
                    receiver.requests += 1
                    failing = receiver.requests <= receiver.failures
                    if not failing:
                        receiver.bodies.append(json.loads(body))
                        receiver._arrived.notify_all()
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}/hook"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def wait(self, count: int, timeout: float = 30.0) -> list[Any]:
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.bodies) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(self.bodies)} of {count} webhook posts arrived")
                self._arrived.wait(left)
            return list(self.bodies)
