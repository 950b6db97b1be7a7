"""Chaos: ten runs on one real `runboard worker` that is SIGKILLed mid-step, mid-evaluation
and mid-checkpoint-write again and again (tests/worker/chaos.py places and proves each kill)
and restarted at once; the API (`runboard serve --no-worker`) finds each lost run by its
silence and queues it again. Every run must end `succeeded` with each epoch's metrics stored
exactly once, or `failed` with its reason: one run, killed on each of its attempts, must.

The schedule comes from a seeded RNG; the seed is printed (and RUNBOARD_CHAOS_SEED replays
it). `pytest tests/worker/test_chaos.py -s` prints the table quoted in docs/reliability.md.
"""

from __future__ import annotations

import os
import random
import sqlite3
import time
from collections import Counter
from typing import Any

import pytest

from tests.worker.chaos import PHASES, Monkey
from tests.worker.conftest import TINY, Api, Stack
from worker.schema.events import EPOCH_METRICS

pytestmark = [pytest.mark.slow, pytest.mark.timeout(480)]

RUNS, MAX_ATTEMPTS, HEARTBEAT_TIMEOUT_S = 10, 3, 8
# Epochs long enough to aim at: 64 steps of ~20 ms, then ~0.5 s of evaluation on 8,192 test
# images and a ~14 MB checkpoint (the fc layer), on one CPU thread per worker.
CHAOS: dict[str, Any] = {
    **TINY,
    "train_subset": 4096,
    "test_subset": 8192,
    "widths": [32, 32, 32, 64],
    "fc_width": 1024,
    "epochs": 2,
}
STEPS = CHAOS["train_subset"] // CHAOS["batch_size"]
MIN_HITS = 2  # proven kills of each phase
CHAOS_TIMEOUT_S = 360.0


def stored_epochs(stack: Stack, run_id: int) -> dict[str, list[int]]:
    """Each metric's stored epochs, straight from the database (no downsampling)."""
    with sqlite3.connect(stack.root / "runboard.db") as connection:
        rows = connection.execute(
            "SELECT name, epoch FROM metric_point WHERE run_id = ? AND name != 'batch_loss'",
            (run_id,),
        ).fetchall()
    found: dict[str, list[int]] = {}
    for name, epoch in rows:
        found.setdefault(name, []).append(epoch)
    return {name: sorted(epochs) for name, epochs in found.items()}


def step_faults(stack: Stack, run_id: int) -> tuple[list[int], list[int]]:
    """The training steps stored more than once, and those missing (report_every is 1)."""
    with sqlite3.connect(stack.root / "runboard.db") as connection:
        query = "SELECT step FROM metric_point WHERE run_id = ? AND name = 'batch_loss'"
        steps = Counter(step for (step,) in connection.execute(query, (run_id,)))
    repeated = sorted(step for step, count in steps.items() if count > 1)
    missing = sorted(set(range(1, CHAOS["epochs"] * STEPS + 1)) - set(steps))
    return repeated, missing


def all_final(api: Api, runs: list[int]) -> bool:
    """Every run ended for good: a `worker lost` run with attempts left is queued again."""
    for run_id in runs:
        run = api.run(run_id)
        lost = run["status"] == "failed" and (run["error"] or "").startswith("worker lost")
        if run["status"] not in {"succeeded", "failed", "cancelled"}:
            return False
        if lost and run["attempts"] < MAX_ATTEMPTS:
            return False
    return True


def test_ten_runs_survive_a_worker_killed_mid_step_mid_eval_and_mid_checkpoint_write(
    stack: Stack,
) -> None:
    seed = int(os.environ.get("RUNBOARD_CHAOS_SEED", random.randrange(2**31)))
    print(f"\nchaos seed {seed} (RUNBOARD_CHAOS_SEED={seed} replays the schedule)")
    rng = random.Random(seed)
    stack.env.update(
        RUNBOARD_HEARTBEAT_TIMEOUT_S=str(HEARTBEAT_TIMEOUT_S),
        RUNBOARD_MAX_ATTEMPTS=str(MAX_ATTEMPTS),
        OMP_NUM_THREADS="1",  # steady step times on a shared 2-core machine
    )
    api = stack.api()
    runs = [api.create_run({**CHAOS, "lr": 0.01 + 0.001 * i})["id"] for i in range(RUNS)]
    doomed = rng.choice(runs)  # killed on every attempt: must end failed, with the reason
    struck = rng.sample([run for run in runs if run != doomed], 6)  # one proven kill each
    hits_for = {run: MAX_ATTEMPTS if run == doomed else int(run in struck) for run in runs}

    clock = time.monotonic()
    with Monkey(stack, api, hits_for, doomed, STEPS, seed, MIN_HITS) as monkey:
        monkey.run(CHAOS["epochs"], lambda: all_final(api, runs), CHAOS_TIMEOUT_S)
    seconds = time.monotonic() - clock

    print(f"{len(monkey.kills)} kills, {monkey.workers} worker processes, {seconds:.0f} s:")
    for kill in monkey.kills:
        print(f"  run {kill.run_id} epoch {kill.epoch}: aimed at {kill.planned:<5} -> "
              f"{kill.hit:<6} {kill.detail}")  # fmt: skip
    hits = Counter(kill.hit for kill in monkey.kills)
    finals = {run_id: api.run(run_id) for run_id in runs}
    print("phases proven:", dict(hits), "| final:", Counter(r["status"] for r in finals.values()))

    for run_id, run in finals.items():
        kills = sum(kill.run_id == run_id for kill in monkey.kills)
        if run["status"] == "succeeded":
            stored = stored_epochs(stack, run_id)
            expected = list(range(1, CHAOS["epochs"] + 1))
            for name in EPOCH_METRICS:
                assert stored.get(name) == expected, f"run {run_id} {name}: {stored.get(name)}"
            repeated, missing = step_faults(stack, run_id)
            assert not repeated and not missing, f"run {run_id}: {repeated=} {missing=}"
            assert run["attempts"] == kills + 1, (run_id, run["attempts"], kills)
        else:
            assert run["status"] == "failed" and run["error"], run
        if run_id == doomed:
            assert run["status"] == "failed" and run["attempts"] == MAX_ATTEMPTS, run
            assert run["error"] == f"worker lost: no heartbeat for {HEARTBEAT_TIMEOUT_S} s"
        else:
            assert run["status"] == "succeeded", run  # it had attempts to spare
    for phase in PHASES:
        assert hits[phase] >= MIN_HITS, f"{phase}: {hits[phase]} proven kills, {dict(hits)}"
