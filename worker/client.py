"""Every call a worker or the CLI makes to the API, and what its failures mean.

One `ApiClient` per API address and bearer token: a run's ingest token for a worker's
claim and events, the API token (or none) for `runboard submit` and the status lookups of
the orphan sweep. Each call goes through `ApiClient._call`, which turns a failed call into
one of two errors: `TransientError` when the API is unreachable, failing (5xx) or busy
(429), which is worth retrying, and `RefusedError` for any other answer (401, 404, 409,
422, ...), which the same request would get again. `patiently` retries transient errors
only, with stamina; `iter_sse` reads Server-Sent Events with httpx-sse.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Iterator
from types import TracebackType
from typing import Any, TypeVar

import httpx
import pydantic
import stamina
from httpx_sse import EventSource, ServerSentEvent, SSEError, connect_sse

from worker.schema.messages import ClaimReply, ClaimRequest, IngestReply, WorkerHello

log = logging.getLogger("runboard.worker")
# Each retry is logged here with what failed and why (or printed, by `runboard submit`);
# stamina's own hook would add a bare "stamina.retry_scheduled" line, on the CLI's stderr too.
stamina.instrumentation.set_on_retry_hooks([])

SseEvent = ServerSentEvent  # one event of a stream: .event (kind), .data (JSON text), .id
TIMEOUT_S = 30.0  # for each of connect, write, read (httpx times each); streams: none
BACKOFF_INITIAL_S = 0.5  # the first wait after a transient failure; doubled each time...
BACKOFF_MAX_S = 10.0  # ...up to this

T = TypeVar("T")
Model = TypeVar("Model", bound=pydantic.BaseModel)


class ApiError(Exception):
    """A call to the API failed; `status_code` is None when no answer came."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class TransientError(ApiError):
    """The API is unreachable, failing (5xx) or busy (429): the same call may work later."""


class RefusedError(ApiError):
    """The API answered no (401, 404, 409, 422, ...): the same call gets the same answer."""


def explain(response: httpx.Response) -> str:
    """One line for an error reply: the fields a 422 names, else the status and detail."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):  # not JSON, or JSON but not an object
        return f"HTTP {response.status_code}: {response.text[:200]}"
    if isinstance(detail, list):
        parts = []
        for item in detail:
            loc = [str(p) for p in item.get("loc", []) if p not in ("body", "query")]
            parts.append(f"{'.'.join(loc) or 'request'}: {item.get('msg')}")
        return "; ".join(parts)
    return f"HTTP {response.status_code}: {detail}"


def error_of(response: httpx.Response) -> ApiError:
    """The error an unexpected reply stands for (its body read)."""
    code = response.status_code
    kind = TransientError if code >= 500 or code == 429 else RefusedError
    return kind(explain(response), code)


def patiently(
    call: Callable[[], T],
    patience_s: float | None,
    what: str | None,
    *,
    wait_initial_s: float = BACKOFF_INITIAL_S,
    wait_max_s: float = BACKOFF_MAX_S,
) -> T:
    """`call()`, called again after each TransientError for up to `patience_s` seconds
    (None: until it works), waiting `wait_initial_s` doubling to `wait_max_s` in between;
    then the last TransientError is raised. Any other error is raised at once. Each retry
    is logged as "`what` failed (...)" unless `what` is None."""
    for attempt in stamina.retry_context(
        on=TransientError,
        attempts=None,
        timeout=patience_s,
        wait_initial=wait_initial_s,
        wait_max=wait_max_s,
        wait_jitter=0.0,
    ):
        with attempt:
            try:
                return call()
            except TransientError as exc:
                if what is not None:
                    log.warning("%s failed (%s); retrying in %.1f s", what, exc, attempt.next_wait)
                raise
    raise AssertionError("unreachable: stamina returns the call's result or raises")


def iter_sse(response: httpx.Response) -> Iterator[SseEvent]:
    """The events of a text/event-stream response as a browser's EventSource dispatches
    them: parsed by httpx-sse, less the blocks without data (a bare `retry:`), which an
    EventSource never dispatches. Comment lines (keep-alives) are skipped."""
    for event in EventSource(response).iter_sse():
        if event.data:
            yield event


class ApiClient:
    """The API at `api_url` (its base URL, without /api), called with `token` as bearer."""

    def __init__(
        self, api_url: str, token: str | None = None, timeout_s: float | None = TIMEOUT_S
    ) -> None:
        self.api_url = api_url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.api_url, headers=headers, timeout=timeout_s)

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, expect: int = 200, **kwargs: Any) -> httpx.Response:
        """The reply to one request; any other status than `expect` raises an ApiError."""
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise TransientError(f"cannot reach the API at {self.api_url} ({exc})") from None
        if response.status_code != expect:
            raise error_of(response)
        return response

    def health(self) -> None:
        """Returns when the API and its database answer (GET /api/health)."""
        self._call("GET", "/api/health")

    def claim(self, run_id: int, worker_host: str) -> ClaimReply:
        """Take the run before training it (POST /api/runs/{id}/claim, the run's token)."""
        body = ClaimRequest(worker_host=worker_host).model_dump()
        return _parsed(self._call("POST", f"/api/runs/{run_id}/claim", json=body), ClaimReply)

    def post_events(
        self, run_id: int, events: list[dict[str, Any]], attempt: int | None
    ) -> IngestReply:
        """Send numbered events (POST /api/runs/{id}/events, the run's token). The body is
        an IngestBatch of `worker.schema.events.envelope()` dicts, sent as they are: the API
        validates them, and NaN losses travel as NaN for the API to store as gaps."""
        body = {"events": events, "attempt": attempt}
        return _parsed(self._call("POST", f"/api/runs/{run_id}/events", json=body), IngestReply)

    def hello(self, hello: WorkerHello) -> None:
        """Say what this worker is and does (POST /api/workers, the API token if any)."""
        self._call("POST", "/api/workers", json=hello.model_dump(mode="json"))

    def get_run(self, run_id: int) -> dict[str, Any]:
        """The run as the API shows it (GET /api/runs/{id}); 404 once it is deleted."""
        return _json_object(self._call("GET", f"/api/runs/{run_id}"))

    def create_run(self, body: dict[str, Any]) -> dict[str, Any]:
        """Queue a run (POST /api/runs: preset, overrides, name, tags); the new run."""
        return _json_object(self._call("POST", "/api/runs", expect=201, json=body))

    def report_card(self) -> dict[str, Any]:
        """The report card, one row per homework point (GET /api/report)."""
        return _json_object(self._call("GET", "/api/report"))

    def follow(
        self, run_id: int, last_event_id: str | None = None
    ) -> Generator[SseEvent, None, None]:
        """The events of the run's stream (GET /api/runs/{id}/stream), from its history
        after `last_event_id` on, live. A dropped connection raises TransientError; the
        iterator ends when the API closes the stream; closing it closes the connection."""
        headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
        path = f"/api/runs/{run_id}/stream"
        try:
            with connect_sse(self._http, "GET", path, headers=headers, timeout=None) as source:
                if source.response.status_code != 200:
                    source.response.read()
                    raise error_of(source.response)
                yield from iter_sse(source.response)
        except SSEError as exc:  # a reply that is no event stream (a proxy's page, say)
            raise RefusedError(str(exc)) from None
        except httpx.TransportError as exc:
            raise TransientError(str(exc) or type(exc).__name__) from None


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise RefusedError(f"unexpected reply from the API: {response.text[:200]}")
    return data


def _parsed(response: httpx.Response, model: type[Model]) -> Model:
    """The reply as `model`; a reply of another shape means another protocol: refused."""
    try:
        return model.model_validate_json(response.content)
    except pydantic.ValidationError:
        raise RefusedError(f"unexpected reply from the API: {response.text[:200]}") from None
