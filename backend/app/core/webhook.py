"""Posts a short message to RUNBOARD_WEBHOOK_URL whenever a run ends, never blocking ingest.

`crud.status` queues the message in the session that ends the run (`queue_after_commit`);
once that transaction commits, it goes on this process's queue, and one background thread
posts the queue in order, retrying connection errors, 429 and 5xx with exponential backoff
(stamina). A rolled-back transaction sends nothing. The body carries both `text` (Slack's
incoming webhooks) and `content` (Discord's), plus the run's fields for other receivers.
"""

from __future__ import annotations

import logging
import queue
import threading
import weakref
from typing import Any

import httpx
import stamina
from sqlalchemy import Engine, event
from sqlmodel import Session

log = logging.getLogger("runboard.api")
PENDING = "runboard_ended_runs"  # Session.info key: messages waiting for the commit
_webhooks: weakref.WeakKeyDictionary[Engine, Webhook] = weakref.WeakKeyDictionary()


class Retryable(Exception):
    """The receiver answered 429 or 5xx: worth another try."""


class Webhook:
    def __init__(
        self,
        url: str,
        dashboard_url: str,
        attempts: int = 8,
        wait_initial_s: float = 0.5,
        wait_max_s: float = 30.0,
        timeout_s: float = 10.0,
    ) -> None:
        self.url, self.dashboard_url = url, dashboard_url
        self.attempts, self.wait_initial_s, self.wait_max_s = attempts, wait_initial_s, wait_max_s
        self._client = httpx.Client(timeout=timeout_s)
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="webhook", daemon=True)
        self._thread.start()
        self.delivered = 0  # messages the receiver took

    def send(self, message: dict[str, Any]) -> None:
        """Queue `message` (its `link` a path of the dashboard); returns at once."""
        link = f"{self.dashboard_url}{message.get('link', '/')}"
        text = f"{message.get('text', '')} {link}".strip()
        self._queue.put({**message, "text": text, "content": text, "link": link})

    def close(self, timeout_s: float = 5.0) -> None:
        """Post what is queued for up to `timeout_s`, then stop."""
        self._queue.put(None)
        self._thread.join(timeout_s)
        self._client.close()

    def _loop(self) -> None:
        while (message := self._queue.get()) is not None:
            try:
                self._post(message)
                self.delivered += 1
            except Exception as exc:  # given up after every retry: logged, the next goes on
                log.warning("webhook: could not post run %s's end: %s", message.get("run"), exc)

    def _post(self, message: dict[str, Any]) -> None:
        for attempt in stamina.retry_context(
            on=(httpx.TransportError, Retryable),
            attempts=self.attempts,
            wait_initial=self.wait_initial_s,
            wait_max=self.wait_max_s,
            timeout=None,
        ):
            with attempt:
                reply = self._client.post(self.url, json=message)
                if reply.status_code == 429 or reply.status_code >= 500:
                    raise Retryable(f"HTTP {reply.status_code}")
                reply.raise_for_status()  # another 4xx: the receiver refuses it, no retry


def attach(engine: Engine, webhook: Webhook) -> None:
    """Send the ends that sessions of `engine` commit through `webhook`."""
    _webhooks[engine] = webhook


def queue_after_commit(session: Session, message: dict[str, Any]) -> None:
    """Send `message` once this session's transaction commits (nothing if it rolls back)."""
    session.info.setdefault(PENDING, []).append(message)


@event.listens_for(Session, "after_commit")
def _send_committed(session: Session) -> None:
    messages = session.info.pop(PENDING, None)
    bind = session.bind
    webhook = _webhooks.get(bind) if isinstance(bind, Engine) else None
    if messages and webhook is not None:
        for message in messages:
            webhook.send(message)


@event.listens_for(Session, "after_rollback")
def _drop_rolled_back(session: Session) -> None:
    session.info.pop(PENDING, None)
