"""worker/client.py against a real API: each reply mapped to a result, a TransientError
(retried by `patiently`) or a RefusedError (not retried); the SSE reader."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.live import ServerProcess, free_port, ingest_token, run_server
from worker.client import (
    ApiClient,
    RefusedError,
    TransientError,
    error_of,
    iter_sse,
    patiently,
)
from worker.schema.events import Heartbeat
from worker.schema.messages import envelope

TOKEN = "s3cret"  # the server's API token: creating runs needs it


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp("server")
    database_url = f"sqlite:///{workdir / 'runboard.db'}"
    with run_server(database_url, workdir, {"RUNBOARD_API_TOKEN": TOKEN}) as process:
        yield process


@pytest.fixture
def api(server: ServerProcess) -> Iterator[ApiClient]:
    with ApiClient(server.url + "/", TOKEN) as client:
        yield client


def new_run(api: ApiClient) -> int:
    run = api.create_run({"preset": "2", "overrides": {"epochs": 1}})
    assert run["status"] == "queued"
    return int(run["id"])


def test_health_and_a_new_run_come_back_as_results(api: ApiClient, server: ServerProcess) -> None:
    assert api.api_url == server.url  # trailing slash dropped
    api.health()
    run_id = new_run(api)
    assert api.get_run(run_id)["id"] == run_id


def test_a_missing_or_wrong_token_is_refused_with_401(server: ServerProcess) -> None:
    for token in (None, "guess"):
        with ApiClient(server.url, token) as anonymous, pytest.raises(RefusedError) as caught:
            anonymous.create_run({"preset": "2"})
        assert caught.value.status_code == 401
        assert str(caught.value).startswith("HTTP 401: ") and "token" in str(caught.value)


def test_a_bad_body_is_refused_with_422_naming_the_field(api: ApiClient) -> None:
    with pytest.raises(RefusedError) as caught:
        api.create_run({"preset": "2", "overrides": {"lr": -1}})
    assert caught.value.status_code == 422
    assert str(caught.value).startswith("overrides.lr: ")


def test_a_deleted_run_is_refused_with_404(api: ApiClient) -> None:
    with pytest.raises(RefusedError) as caught:
        api.get_run(10**9)
    assert caught.value.status_code == 404


def test_claim_and_events_under_the_run_token_and_a_gap_refused_with_409(
    api: ApiClient, server: ServerProcess
) -> None:
    run_id = new_run(api)
    token = ingest_token(server.database_url, run_id)
    with ApiClient(server.url, token) as worker:
        claimed = worker.claim(run_id, "test-host:1")
        assert claimed.attempt == 1 and not claimed.cancel_requested
        reply = worker.post_events(
            run_id, [envelope(claimed.next_seq, time.time(), Heartbeat())], claimed.attempt
        )
        assert reply.accepted_through == claimed.next_seq and not reply.cancel_requested
        with pytest.raises(RefusedError) as caught:  # a gap in the sequence numbers
            worker.post_events(
                run_id, [envelope(claimed.next_seq + 5, time.time(), Heartbeat())], 1
            )
        assert caught.value.status_code == 409 and "gap" in str(caught.value)
    with ApiClient(server.url, "guess") as stranger, pytest.raises(RefusedError) as caught:
        stranger.claim(run_id, "test-host:2")
    assert caught.value.status_code == 401


def test_an_unreachable_api_is_transient_without_a_status() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with ApiClient(url) as api, pytest.raises(TransientError) as caught:
        api.health()
    assert caught.value.status_code is None
    assert str(caught.value).startswith(f"cannot reach the API at {url} (")


@pytest.mark.parametrize(
    ("code", "kind"),
    [(500, TransientError), (502, TransientError), (503, TransientError),
     (429, TransientError), (400, RefusedError), (401, RefusedError), (404, RefusedError),
     (409, RefusedError), (413, RefusedError), (422, RefusedError)],
)  # fmt: skip
def test_server_errors_and_429_are_transient_other_4xx_refused(
    code: int, kind: type[Exception]
) -> None:
    error = error_of(httpx.Response(code, json={"detail": "no"}))
    assert type(error) is kind and error.status_code == code
    assert str(error) == f"HTTP {code}: no"


def test_patiently_retries_transient_errors_only_and_gives_up_after_its_patience() -> None:
    calls: list[float] = []

    def flaky() -> str:
        calls.append(time.monotonic())
        if len(calls) < 3:
            raise TransientError("down")
        return "up"

    assert patiently(flaky, 10.0, "flaky", wait_initial_s=0.01, wait_max_s=0.02) == "up"
    assert len(calls) == 3

    def refused() -> None:
        calls.append(time.monotonic())
        raise RefusedError("no", 409)

    calls.clear()
    with pytest.raises(RefusedError):
        patiently(refused, 10.0, "refused", wait_initial_s=0.01)
    assert len(calls) == 1  # not retried

    def down() -> None:
        raise TransientError("down")

    started = time.monotonic()
    with pytest.raises(TransientError):
        patiently(down, 0.3, None, wait_initial_s=0.05, wait_max_s=0.05)
    assert 0.3 <= time.monotonic() - started < 5


def test_follow_reads_the_run_stream_from_after_the_last_event_id(
    api: ApiClient, server: ServerProcess
) -> None:
    run_id = new_run(api)
    with ApiClient(server.url) as reader:  # streams need no token
        events = reader.follow(run_id)
        first = next(events)
        events.close()
        assert first.event == "status" and first.json()["status"] == "queued"
        token = ingest_token(server.database_url, run_id)
        with ApiClient(server.url, token) as worker:
            worker.claim(run_id, "test-host:1")
        events = reader.follow(run_id, first.id)
        after = next(events)
        events.close()
        assert after.event == "status" and after.json()["status"] == "running"
        assert int(after.id) > int(first.id)
        with pytest.raises(RefusedError) as caught:
            next(reader.follow(10**9))
        assert caught.value.status_code == 404


def test_iter_sse_skips_comments_and_blocks_without_data() -> None:
    text = ': run stream\nretry: 3000\n\nid: 7\nevent: status\ndata: {"a":\ndata: 1}\n\n'
    response = httpx.Response(
        200, headers={"content-type": "text/event-stream"}, content=text.encode()
    )
    events = list(iter_sse(response))
    assert [(e.id, e.event, e.data) for e in events] == [("7", "status", '{"a":\n1}')]
