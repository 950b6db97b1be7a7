"""Every 413 as JSON: `{"detail": "request body larger than N bytes ..."}`.

FastAPI's `max_body_size` does the limiting. A body cut off while streaming gets FastAPI's
JSON error, but one announced too large by its Content-Length is answered by Starlette in
plain text ("Content Too Large") from outside the app's middleware, so this wraps the
whole stack and rewrites any 413 the same way: one error shape for clients to parse.
"""

from __future__ import annotations

import json

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class JsonTooLarge:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        detail = f"request body larger than {max_body_bytes} bytes (RUNBOARD_MAX_BODY_BYTES)"
        self.body = json.dumps({"detail": detail}).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rewriting = False

        async def send_json_413(message: Message) -> None:
            nonlocal rewriting
            if message["type"] == "http.response.start" and message["status"] == 413:
                rewriting = True
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() not in (b"content-type", b"content-length")
                ]
                headers += [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(self.body)).encode()),
                ]
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body" and rewriting:
                if message.get("more_body", False):
                    return  # the original body's parts are dropped; ours goes out whole
                message = {**message, "body": self.body}
            await send(message)

        await self.app(scope, receive, send_json_413)


class RunboardAPI(FastAPI):
    """FastAPI with JsonTooLarge around its whole middleware stack (its body limiter too)."""

    def build_middleware_stack(self) -> ASGIApp:
        return JsonTooLarge(super().build_middleware_stack(), self.max_body_size or 0)
