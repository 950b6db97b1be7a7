"""Fifty browsers on one running run: a real `runboard serve`, a worker posting real ingest
batches with the run's token, and 50 concurrent EventSource-style readers of the run's
stream, half connected before the run starts and half joining mid-run. Every client must get
every epoch's metrics exactly once and the final status, in the order of the event log.

`pytest tests/backend/test_sse_fanout.py -s` prints the figures quoted in docs/reliability.md.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

import pytest
from sqlmodel import Session, col, select

from backend.app.core.db import make_engine
from backend.app.models import StreamEvent
from tests.backend.points import epochs_with, metric_points
from tests.support.live import ServerProcess, Worker, create_run
from tests.support.sse import SseEvent, SseReader, payload

pytestmark = pytest.mark.timeout(240)
CLIENTS = 50
EPOCHS = 4
WAIT_S = 60.0  # per client and event: a loaded 2-core machine serving 50 streams


def logged_events(database_url: str, run_id: int) -> list[tuple[int, str]]:
    """(id, kind) of the run's events in the server's log, in order. Every one but older
    `progress` rows, which the log coalesces to the latest, is what each client receives."""
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            query = select(StreamEvent.id, StreamEvent.kind).where(StreamEvent.run_id == run_id)
            rows = session.exec(query.order_by(col(StreamEvent.id))).all()
            return [(int(i or 0), str(kind)) for i, kind in rows]
    finally:
        engine.dispose()


def test_epochs_with_names_the_epochs_a_metrics_event_carries() -> None:
    columns = {
        "test_acc": {"seq": [7], "epoch": [2], "step": [2], "value": [0.5], "time": [1.0]},
        "batch_loss": {"seq": [6, 6], "epoch": [2, 3], "step": [9, 10], "value": [3.0, 2.9],
                       "time": [0.5, 0.6]},
    }  # fmt: skip
    assert epochs_with({"run_id": 1, "series": columns}) == [2]
    assert epochs_with({"run_id": 1, "series": columns}, "batch_loss") == [2, 3]


def wait_for_epoch(readers: list[SseReader], seen: list[list[SseEvent]], epoch: int) -> float:
    """Reads every client up to its metrics event of `epoch`; seconds until the last had it."""
    clock = time.monotonic()
    for reader, events in zip(readers, seen, strict=True):
        if any(epoch in epochs_with(payload(e)) for e in events if e.event == "metrics"):
            continue
        events += reader.read_until(
            lambda e: e.event == "metrics" and epoch in epochs_with(payload(e)), timeout=WAIT_S
        )
    return time.monotonic() - clock


def test_fifty_clients_of_one_running_run_each_get_every_epoch_once_and_the_final_status(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server()
    run = create_run(server.url, overrides={"epochs": EPOCHS}, name="fan-out")
    worker = Worker(server.url, server.database_url, run["id"], epochs=EPOCHS)
    url = f"{server.url}/api/runs/{run['id']}/stream"
    readers: list[SseReader] = []
    delivery: dict[int, float] = {}  # epoch -> s from the ingest reply to the last client
    with contextlib.ExitStack() as stack:
        readers += [stack.enter_context(SseReader(url)) for _ in range(CLIENTS // 2)]
        seen: list[list[SseEvent]] = [[] for _ in readers]
        worker.start()
        worker.epoch(1, test_acc=0.05)
        delivery[1] = wait_for_epoch(readers, seen, 1)
        # The other half opens the page while the run trains: the log replays from the start.
        late = [stack.enter_context(SseReader(url)) for _ in range(CLIENTS - len(readers))]
        readers += late
        seen += [[] for _ in late]
        for epoch in range(2, EPOCHS + 1):
            worker.heartbeat()
            worker.epoch(epoch, test_acc=0.05 * epoch)
            delivery[epoch] = wait_for_epoch(readers, seen, epoch)
        worker.finish()
        logged = logged_events(server.database_url, run["id"])  # complete: the run has ended
        log = [i for i, _ in logged]
        kept = [i for i, kind in logged if kind != "progress"]
        for reader, events in zip(readers, seen, strict=True):
            events += reader.read_until(lambda e: int(e.id or 0) >= log[-1], timeout=WAIT_S)
        extra = [event for reader in readers for event in reader.quiet(0.01)]
    assert extra == [], "events beyond the log"
    assert len(readers) == CLIENTS
    for index, events in enumerate(seen):
        got = [int(event.id or 0) for event in events]
        assert got == sorted(set(got)), f"client {index}: events out of order or twice"
        others = [int(e.id or 0) for e in events if e.event != "progress"]
        assert others == kept, f"client {index}: {len(others)} events, the log has {len(kept)}"
        assert set(log) <= set(got), f"client {index}: missed {sorted(set(log) - set(got))}"
        epochs = [n for e in events if e.event == "metrics" for n in epochs_with(payload(e))]
        assert epochs == list(range(1, EPOCHS + 1)), f"client {index}: epochs {epochs}"
        points = [p for e in events if e.event == "metrics" for p in metric_points(payload(e))]
        assert sorted({p["name"] for p in points}) == [
            "batch_loss", "test_acc", "test_loss", "train_loss",
        ]  # fmt: skip
        statuses = [payload(e)["status"] for e in events if e.event == "status"]
        assert statuses == ["queued", "running", "succeeded"], f"client {index}: {statuses}"
    slowest = max(delivery.values())
    print(
        f"\n{CLIENTS} SSE clients on run {run['id']} ({server.database_url.split(':')[0]}): "
        f"each got {len(log)} events, epochs 1-{EPOCHS} once each and the final status; "
        f"slowest epoch delivery to all clients {slowest * 1000:.0f} ms "
        f"({', '.join(f'epoch {e}: {s * 1000:.0f} ms' for e, s in delivery.items())})"
    )
