"""The chaos monkey of test_chaos.py: it follows every run's live stream, SIGKILLs the one
`runboard worker` in a chosen phase of an epoch, proves from what the dead worker left which
phase it really was in, and starts a new worker. No hooks in the worker: timing only.
- step: killed on seeing step s <= steps/2 of epoch e. Proved if epoch e's last step and
  metrics never arrive, the checkpoint is still e-1, and the steps left could not have run
  between the last reported step and the kill (at the fastest step rate seen).
- eval: killed on seeing epoch e's last step. Proved if its metrics never arrive and the
  checkpoint is still e-1 with no temporary file: after the last training step, before the
  checkpoint write (and the sub-millisecond of reporting the metrics): evaluation.
- write: a thread polls every 0.5 ms for save_checkpoint's `.checkpoint.pt.<pid>.tmp` and
  kills once it holds bytes. Proved if the file is still there after the death (killed
  before the rename completing the write); the last complete checkpoint must still load.
Kills proved in none of these (the window passed first) count as late or unsure, and their
phase is tried again.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import queue
import random
import signal
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.backend.points import metric_points
from tests.support.sse import SseReader, payload
from tests.worker.conftest import Api, Process, Stack
from worker.core.checkpoint import CHECKPOINT, load_checkpoint

PHASES = ("step", "eval", "write")
DRAIN_S = 1.0  # after a kill: what the dead worker had posted reaches the stream by then


@dataclass
class Attempt:
    """What one run's current attempt has shown on the stream: batch steps and epochs."""

    number: int
    steps: dict[int, list[tuple[int, float]]] = field(default_factory=dict)  # epoch: (s, time)
    epochs: set[int] = field(default_factory=set)  # epochs whose metrics arrived
    ended: bool = False  # a final status arrived


@dataclass
class Kill:
    """A kill planned for a run's epoch (for `step`: at which step), then done and proved."""

    run_id: int
    planned: str
    epoch: int
    step: int = 0
    at: float = 0.0  # time.time() of the SIGKILL
    pid: int = 0
    hit: str = "?"  # the phase proved: step, eval, write, late or unsure
    detail: str = ""


class Sniper(threading.Thread):
    """Kills the worker the moment a checkpoint temporary file appears, once armed."""

    def __init__(self) -> None:
        super().__init__(daemon=True, name="sniper")
        self.lock = threading.Lock()
        self.target: tuple[Path, int] | None = None
        self.fired: queue.Queue[float] = queue.Queue()
        self.stop = threading.Event()

    def arm(self, path: Path, pid: int) -> None:
        with self.lock:
            self.target = (path, pid)

    def disarm(self) -> None:
        with self.lock:
            self.target = None

    def run(self) -> None:
        while not self.stop.is_set():
            with self.lock:  # so that a disarmed sniper never fires
                target = self.target
                if target is not None and _size(target[0]) > 0:  # written into, not complete
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(target[1], signal.SIGKILL)
                    self.fired.put(time.time())
                    self.target = None
            time.sleep(0.0005)


def _size(path: Path) -> int:
    with contextlib.suppress(FileNotFoundError):
        return os.stat(path).st_size
    return 0


class Monkey:
    """Runs the schedule. `hits_for[run]`: the kills in a proven phase the run gets; at most
    one more kill than that lands on it (a missed window), except on `doomed`, which is
    killed on every attempt, whatever the phase proves to be. While some phase has fewer
    than `min_hits` proven kills, runs without kills of their own may get one of it."""

    def __init__(
        self,
        stack: Stack,
        api: Api,
        hits_for: dict[int, int],
        doomed: int,
        steps_per_epoch: int,
        seed: int,
        min_hits: int,
    ) -> None:
        self.stack, self.api, self.rng = stack, api, random.Random(seed)
        self.steps_per_epoch, self.min_hits = steps_per_epoch, min_hits
        self.hits_left, self.doomed = dict(hits_for), doomed
        self.kills_left = {run: n + (run != doomed) for run, n in hits_for.items()}
        self.deck: deque[str] = deque()
        self.refill_deck()
        runs = list(hits_for)
        self.readers = {run: SseReader(f"{api.url}/api/runs/{run}/stream") for run in runs}
        self.serial = 0
        self.attempts: dict[int, Attempt] = {run: Attempt(0) for run in runs}
        self.planned: set[tuple[int, int, int]] = set()  # (run, attempt, epoch) considered
        self.strike: Kill | None = None
        self.kills: list[Kill] = []
        self.sniper = Sniper()
        self.workers = 0
        self.worker = self.start_worker()

    def refill_deck(self) -> None:
        phases = list(PHASES)
        self.rng.shuffle(phases)
        self.deck.extend(phases)

    def start_worker(self) -> Process:
        self.workers += 1
        return self.stack.worker(self.api, f"w{self.workers}")

    def __enter__(self) -> Monkey:
        for reader in self.readers.values():
            reader.__enter__()
        self.sniper.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sniper.stop.set()
        self.sniper.join(5)
        for reader in self.readers.values():
            reader.close()

    def drain(self) -> list[int]:
        """Applies every event that arrived; the runs that reported training steps."""
        active = []
        for run, reader in self.readers.items():
            while True:
                try:
                    event = reader.events.get_nowait()
                except queue.Empty:
                    break
                data = payload(event) if event.data else {}
                if event.event == "status" and data.get("status") == "running":
                    self.serial += 1
                    self.attempts[run] = Attempt(self.serial)  # a new claim: a new attempt
                elif event.event == "status" and data.get("status") != "queued":
                    self.attempts[run].ended = True
                elif event.event == "metrics":
                    self.record(run, data)
                    active.append(run)
        return active

    def record(self, run: int, data: dict[str, Any]) -> None:
        attempt, steps = self.attempts[run], self.steps_per_epoch
        for point in metric_points(data):
            epoch = int(point["epoch"])
            if point["name"] == "batch_loss":
                within = int(point["step"]) - (epoch - 1) * steps  # points carry global steps
                attempt.steps.setdefault(epoch, []).append((within, float(point["time"])))
            elif point["name"] == "test_acc":
                attempt.epochs.add(epoch)

    def plan(self, run: int, epochs: int) -> None:
        """At a run's first steps of an epoch: strike in it, maybe (surely in its last)."""
        attempt = self.attempts[run]
        epoch = max(attempt.steps)
        if (run, attempt.number, epoch) in self.planned:
            return
        if self.strike is not None:  # another run's, about to be dropped: decide later
            return
        self.planned.add((run, attempt.number, epoch))
        if self.kills_left.get(run, 0) <= 0:
            return
        proven = Counter(kill.hit for kill in self.kills)
        short = [phase for phase in self.deck if proven[phase] < self.min_hits]
        if self.hits_left.get(run, 0) <= 0 and run != self.doomed and not short:
            return
        if not (epoch == epochs or run == self.doomed or self.rng.random() < 0.5):
            return
        own = self.hits_left.get(run, 0) > 0 or run == self.doomed
        phase = self.deck.popleft() if own or not short else short[0]
        if phase in self.deck and not own:
            self.deck.remove(phase)
        if run == self.doomed and epoch == epochs and phase in ("eval", "write"):
            # A missed eval or checkpoint-write window in its last epoch would let the doomed
            # run end (a whole epoch takes ~1.4 s on a quiet machine); a step is never missed.
            self.deck.appendleft(phase)
            phase = "step"
        if not self.deck:
            self.refill_deck()
        step = self.rng.randint(2, self.steps_per_epoch // 3)
        self.strike = Kill(run, phase, epoch, step)
        if phase == "write":
            path = self.run_dir(run) / f".{CHECKPOINT}.{self.worker.pid}.tmp"
            self.sniper.arm(path, self.worker.pid)

    def run_dir(self, run: int) -> Path:
        return self.stack.checkpoints / f"run-{run}"

    def due(self) -> bool:
        """Whether the planned strike's moment has come; drops it once the moment passed."""
        strike = self.strike
        assert strike is not None
        attempt = self.attempts[strike.run_id]
        seen = [s for s, _ in attempt.steps.get(strike.epoch, [])]
        later = attempt.ended or max(attempt.steps, default=0) > strike.epoch
        if strike.planned == "write":  # the sniper's; over once the next epoch or the end came
            passed = later
        else:
            passed = later or strike.epoch in attempt.epochs or not seen
            if strike.planned == "step" and seen:
                passed = passed or max(seen) > self.steps_per_epoch // 2
        if passed and strike.run_id == self.doomed and not attempt.ended:
            return True  # it dies on every attempt, in whatever phase this proves to be
        if passed:
            self.sniper.disarm()
            self.deck.appendleft(strike.planned)
            self.strike = None
            return False
        if strike.planned == "step":
            return max(seen) >= strike.step
        return strike.planned == "eval" and self.steps_per_epoch in seen

    def run(self, epochs: int, done: Any, timeout_s: float) -> None:
        """Follows, plans and kills until `done()` (polled each second) or the timeout."""
        deadline, polled = time.monotonic() + timeout_s, 0.0
        while time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):
                self.kill(self.sniper.fired.get_nowait())
                continue
            for run in self.drain():
                if self.attempts[run].steps:
                    self.plan(run, epochs)
            if self.strike is not None and self.due():
                self.kill()
                continue
            if time.monotonic() - polled > 1.0:
                if done():
                    return
                polled = time.monotonic()
            time.sleep(0.005)
        raise AssertionError(f"the chaos did not end within {timeout_s:g} s: {self.kills}")

    def kill(self, at: float | None = None) -> Kill:
        """SIGKILL (unless the sniper did), wait for death, prove the phase, new worker."""
        strike = self.strike
        assert strike is not None
        self.sniper.disarm()
        if at is None:
            at = time.time()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.worker.pid, signal.SIGKILL)
        self.worker.process.wait(30)
        kill, self.strike = strike, None
        kill.at, kill.pid = at, self.worker.pid
        time.sleep(DRAIN_S)
        self.drain()
        self.prove(kill)
        self.kills.append(kill)
        self.kills_left[kill.run_id] -= 1
        if kill.hit in PHASES:
            self.hits_left[kill.run_id] -= 1
        else:
            self.deck.appendleft(kill.planned)
        self.worker = self.start_worker()
        return kill

    def prove(self, kill: Kill) -> None:
        directory, attempt = self.run_dir(kill.run_id), self.attempts[kill.run_id]
        epoch = max(attempt.steps, default=kill.epoch)
        saved = load_checkpoint(directory)
        saved_epoch = int(saved["epoch"]) if saved else 0
        partial = directory / f".{CHECKPOINT}.{kill.pid}.tmp"
        if partial.exists():
            kill.epoch = saved_epoch + 1
            kill.hit = "write"
            kill.detail = (
                f"{partial.name} left with {partial.stat().st_size:,} bytes; "
                f"checkpoint.pt loads epoch {saved_epoch}"
            )
            return
        kill.epoch = epoch
        steps = sorted(attempt.steps.get(epoch, []))
        last_step, last_time = steps[-1] if steps else (0, kill.at)
        if saved_epoch >= epoch or epoch in attempt.epochs:
            kill.hit, kill.detail = "late", f"epoch {epoch} had ended (checkpoint {saved_epoch})"
        elif last_step == self.steps_per_epoch:
            kill.hit = "eval"
            kill.detail = f"after step {last_step}, no metrics, checkpoint {saved_epoch}"
        else:
            times = [t for _, t in steps]
            fastest = min((b - a for a, b in itertools.pairwise(times)), default=0.0)
            left = (self.steps_per_epoch - last_step) * fastest
            since = kill.at - last_time
            kill.hit = "step" if since < left else "unsure"
            kill.detail = (
                f"step {last_step} reported {since * 1000:.0f} ms before the kill; "
                f"{self.steps_per_epoch - last_step} steps left take >= {left * 1000:.0f} ms"
            )
        assert saved_epoch == epoch - 1 or kill.hit == "late", (kill, saved_epoch)
