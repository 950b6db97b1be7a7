"""Sends a run's events to the API without ever slowing training.

The training thread only appends to an in-memory buffer (`emit`). A background thread posts
the buffer in numbered batches through worker.client, sends a heartbeat when there is
nothing else to say, and retries a batch with exponential backoff (worker.client.patiently)
while the API is unreachable, keeping every event: the API skips sequence numbers it
already has, so resending after a lost reply is harmless.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from worker.client import ApiClient, RefusedError, TransientError, patiently
from worker.resources import SAMPLE_INTERVAL_S, ResourceSampler
from worker.schema.events import (
    STEP_COLUMNS,
    Batch,
    EventData,
    EventKind,
    Heartbeat,
    Resources,
    Started,
    Steps,
)
from worker.schema.messages import IngestReply, envelope

log = logging.getLogger("runboard.worker")

MAX_BATCH = 1000  # events per POST
MAX_STEPS_PER_EVENT = 10_000  # batch losses folded into one `batches` event
# Steps per POST: ~60 bytes of JSON each, so a post stays near 1 MB, far below the API's
# 4 MiB body limit, even when a long outage has piled up thousands of events.
MAX_STEPS_PER_POST = 20_000
FLUSH_INTERVAL_S = 0.25  # how long events may wait in the buffer
HEARTBEAT_INTERVAL_S = 5.0
# Of the claim's lease (the API's heartbeat timeout): out of contact this long, the worker
# stops, before the API hands the run to another worker, so it never trains twice at once.
LEASE_FRACTION = 0.8


# Events whose data holds columns of steps (worker.schema.events.Steps).
STEP_KINDS = (EventKind.batches, EventKind.recovered_batches)


@dataclass
class Reporter:
    api_url: str
    run_id: int
    token: str
    next_seq: int  # the first sequence number this attempt sends
    attempt: int | None = None  # from the claim; the API refuses batches of older attempts
    lease_s: float | None = None  # from the claim: see LEASE_FRACTION
    sample_resources: bool = False  # CPU, memory and GPU every SAMPLE_INTERVAL_S, as metrics
    api: ApiClient = field(init=False)  # with the run's token
    _buffer: deque[dict[str, Any]] = field(default_factory=deque)
    _lock: threading.Condition = field(default_factory=threading.Condition)
    _stop_requested: threading.Event = field(default_factory=threading.Event)
    _closing: bool = False
    _in_flight_through: int = 0  # events up to this seq are being posted: never mutate them
    _rejected: str | None = None
    _thread: threading.Thread | None = None
    _last_contact: float = field(default_factory=time.monotonic)
    _failed_since_contact: bool = False
    abandoned: bool = False  # the lease ran out: nothing more is sent
    sent_batches: int = 0
    _sampler: ResourceSampler | None = None
    _position: tuple[int, int] | None = None  # (epoch, global step) of the latest step
    _next_sample: float = 0.0  # time.monotonic()

    def __post_init__(self) -> None:
        self.api = ApiClient(self.api_url, self.token)

    def _heartbeat_s(self) -> float:
        """Often enough that a slow but working API keeps the lease: four beats a lease."""
        return min(HEARTBEAT_INTERVAL_S, self.lease_s / 4) if self.lease_s else HEARTBEAT_INTERVAL_S

    def _abandon_if_lease_lost(self) -> bool:
        """Out of contact for 80 % of the lease with a failed post since (the API is out of
        reach), or for all of it (the API has called the worker lost by now anyway); a slow
        but answering API keeps the run."""
        if self.lease_s is not None and not self.abandoned:
            silent_s = time.monotonic() - self._last_contact
            unreachable = self._failed_since_contact and silent_s > LEASE_FRACTION * self.lease_s
            if unreachable or silent_s > self.lease_s:
                with self._lock:
                    self.abandoned = True
                    self._buffer.clear()
                log.warning(
                    "run %s: no contact with the API for %.0f s: stopped; it hands the run on",
                    self.run_id,
                    silent_s,
                )
        return self.abandoned

    def start(self) -> Reporter:
        self._sampler = ResourceSampler() if self.sample_resources else None
        self._thread = threading.Thread(target=self._send_loop, name="reporter", daemon=True)
        self._thread.start()
        return self

    # ---- called by the training thread ------------------------------------------------

    def emit(self, data: EventData) -> None:
        with self._lock:
            if self.abandoned:
                return
            now = time.time()
            self._track_position(data)
            if isinstance(data, Batch):
                if self._append_to_columns(data, now):
                    return
                # Batch losses travel as columns: one event, many steps.
                data = Steps(
                    epoch=[data.epoch],
                    step=[data.step],
                    global_step=[data.global_step],
                    loss=[data.loss],
                    time=[now],
                )
            event = envelope(self.next_seq, now, data)
            self.next_seq += 1
            self._buffer.append(event)
            if len(self._buffer) >= MAX_BATCH:
                self._lock.notify()

    def _append_to_columns(self, data: Batch, now: float) -> bool:
        """Add a step to the newest `batches` event unless it is being sent already."""
        if not self._buffer:
            return False
        last = self._buffer[-1]
        if last["kind"] != EventKind.batches or last["seq"] <= self._in_flight_through:
            return False
        columns = last["data"]
        if len(columns["loss"]) >= MAX_STEPS_PER_EVENT:
            return False
        for name, value in zip(
            STEP_COLUMNS, (data.epoch, data.step, data.global_step, data.loss, now), strict=True
        ):
            columns[name].append(value)
        return True

    def _track_position(self, data: EventData) -> None:
        if isinstance(data, Batch):
            self._position = data.epoch, data.global_step
        elif isinstance(data, Started):
            self._position = data.start_epoch, (data.start_epoch - 1) * data.steps_per_epoch + 1

    def _sample(self) -> None:
        """Emit a Resources sample when one is due and a step position is known."""
        if self._sampler is None or self._position is None:
            return
        if time.monotonic() < self._next_sample:
            return
        self._next_sample = time.monotonic() + SAMPLE_INTERVAL_S
        epoch, global_step = self._position
        self.emit(Resources(epoch=epoch, global_step=global_step, metrics=self._sampler.sample()))

    def should_stop(self) -> bool:
        """True once the user asked to cancel, the API refused the run, or the lease ran out."""
        return self._stop_requested.is_set() or self._abandon_if_lease_lost()

    @property
    def rejected(self) -> str | None:
        return self._rejected

    def close(self, timeout_s: float = 600.0) -> bool:
        """Send what is left (retrying up to `timeout_s`); True when all was delivered."""
        with self._lock:
            self._closing = True
            self._lock.notify()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self.api.close()
        return not self._buffer and self._rejected is None

    # ---- the background thread --------------------------------------------------------

    def _send_loop(self) -> None:
        last_contact = time.monotonic()
        while True:
            if not self._closing:
                self._sample()
            with self._lock:
                if not self._buffer and not self._closing:
                    self._lock.wait(FLUSH_INTERVAL_S)
                if (
                    not self._buffer
                    and not self._closing
                    and (time.monotonic() - last_contact >= self._heartbeat_s())
                ):
                    self._buffer.append(envelope(self.next_seq, time.time(), Heartbeat()))
                    self.next_seq += 1
                batch = self._next_batch()
                if not batch and self._closing:
                    return
                if batch:
                    self._in_flight_through = batch[-1]["seq"]
            if not batch:
                continue
            try:
                self._deliver(batch)
            except RefusedError as exc:
                self._rejected = str(exc)
                self._stop_requested.set()
                with self._lock:
                    self._buffer.clear()
                return
            last_contact = self._last_contact = time.monotonic()
            self._failed_since_contact = False

    def _next_batch(self) -> list[dict[str, Any]]:
        """The oldest events, up to MAX_BATCH of them and MAX_STEPS_PER_POST steps (but at
        least one event); called with the lock held."""
        batch: list[dict[str, Any]] = []
        steps = 0
        for event in self._buffer:
            steps += len(event["data"].get("loss", ())) if event["kind"] in STEP_KINDS else 0
            if batch and (len(batch) >= MAX_BATCH or steps > MAX_STEPS_PER_POST):
                break
            batch.append(event)
        return batch

    def _deliver(self, batch: list[dict[str, Any]]) -> None:
        """Post `batch` until the API takes it: while it is unreachable, failing or busy,
        for ever (every event must arrive once it is back), waiting 0.5 s doubling to 10 s
        between tries; the emits meanwhile wait in the buffer. Raises RefusedError when the
        API will not take the run's events (finished elsewhere, cancelled, bad token)."""

        def post() -> IngestReply:
            if self.abandoned:
                raise RefusedError("the lease ran out: the run is being handed on")
            try:
                return self.api.post_events(self.run_id, batch, self.attempt)
            except TransientError:
                self._failed_since_contact = True
                raise

        reply = patiently(
            post,
            None,
            f"run {self.run_id}: posting events",
        )
        with self._lock:
            while self._buffer and self._buffer[0]["seq"] <= reply.accepted_through:
                self._buffer.popleft()
        self.sent_batches += 1
        if reply.cancel_requested:
            self._stop_requested.set()
