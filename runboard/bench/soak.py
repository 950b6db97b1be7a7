"""`runboard bench soak`: the API's memory over a long stretch of realistic traffic.

A real server (`runboard serve --no-worker`, a fresh SQLite database) gets for `minutes`:
- `workers` fake workers, each in a loop: create a run, claim it with its ingest token,
  report it as the reporter does (a `batches` event every 0.25 s, each epoch's metrics,
  then `finished`); one run in five ends `failed`, about one in eight is cancelled mid-run;
- `clients` SSE clients, each in a loop: open a recent run's stream (one in four: the
  global stream), read it for 1 to 6 s (or until idle for 1 s), leave.
The server's RSS (and anonymous RSS), open file descriptors and threads are sampled from
/proc every `sample_s` seconds. After `warmup_s` RSS should stay flat: reported are RSS after
the warm-up, at the end, its maximum, the growth between and the least-squares slope after
the warm-up in MiB per minute.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import statistics
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from sqlmodel import col

from backend.app.core.db import make_engine
from backend.app.models import Run
from runboard.bench.record import banner, describe, save
from runboard.bench.server import serving
from runboard.bench.stats import percentile
from worker.schema.errors import InvalidInputError

STEPS, EPOCHS, STEPS_PER_POST = 40, 3, 8  # a fake run: 15 batch posts + 3 epochs, ~4 s
POST_EVERY_S = 0.25  # the reporter's flush interval
COLUMNS = ("rss_kib", "fds", "threads", "anon_kib")  # of each sample, after its time


@dataclass
class Soak:
    minutes: float = 10.0
    workers: int = 3
    clients: int = 12
    sample_s: float = 2.0
    warmup_s: float = 60.0
    seed: int = 0


@dataclass
class Counters:
    lock: threading.Lock = field(default_factory=threading.Lock)
    runs: dict[str, int] = field(default_factory=dict)  # by final status
    posts: int = 0
    post_ms: list[float] = field(default_factory=list)  # wall time of each ingest POST
    streams: int = 0
    sse_events: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, ended: str | None = None, **counts: int) -> None:
        with self.lock:
            for name, count in counts.items():
                setattr(self, name, getattr(self, name) + count)
            if ended:
                self.runs[ended] = self.runs.get(ended, 0) + 1


def serving_soak(
    database_url: str, broker_db: Path
) -> contextlib.AbstractContextManager[tuple[str, int]]:
    """`runboard serve --no-worker` (bench api's) with a SQLite broker file nobody consumes:
    Kombu's memory broker would keep every task in the API's own heap, which is the very
    thing measured here."""
    settings: dict[str, str | None] = {"RUNBOARD_BROKER_URL": None}
    return serving(database_url, settings | {"RUNBOARD_BROKER_DB": str(broker_db)})


def _proc(pid: int) -> dict[str, int]:
    """RSS (KiB), threads and open file descriptors of `pid`, from /proc (Linux)."""
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    fields = dict(line.split(":", 1) for line in status if ":" in line)
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return {"rss_kib": int(fields["VmRSS"].split()[0]), "threads": int(fields["Threads"]),
            "anon_kib": int(fields["RssAnon"].split()[0]),
            "fds": len(os.listdir(f"/proc/{pid}/fd")),
            "cpu_s": (int(stat[11]) + int(stat[12])) // os.sysconf("SC_CLK_TCK")}  # fmt: skip


class Traffic:
    """The fake workers and SSE clients, as daemon threads, until `stop` is set."""

    def __init__(self, base: str, database_url: str, soak: Soak) -> None:
        self.base, self.soak = base, soak
        self.engine = make_engine(database_url)
        self.stop = threading.Event()
        self.counters = Counters()
        self.recent: list[int] = []  # run ids the clients pick from
        loops = [self._worker] * soak.workers + [self._client] * soak.clients
        self.threads = [threading.Thread(target=self._guard, args=(loop, i), daemon=True)
                        for i, loop in enumerate(loops)]  # fmt: skip

    def join(self, timeout_s: float = 30.0) -> None:
        self.stop.set()
        deadline = time.monotonic() + timeout_s
        for thread in self.threads:
            thread.join(max(deadline - time.monotonic(), 0.01))
        self.engine.dispose()

    def _guard(self, loop: Any, index: int) -> None:
        rng = random.Random(self.soak.seed * 1000 + index)
        with httpx.Client(base_url=self.base, timeout=30) as client:
            while not self.stop.is_set():
                try:
                    loop(client, rng, index)
                except (httpx.HTTPError, AssertionError, KeyError, ValueError) as exc:
                    with self.counters.lock:
                        self.counters.errors.append(f"{loop.__name__}: {exc!r}"[:300])
                    self.stop.wait(1.0)

    def _token(self, run_id: int) -> str:
        with self.engine.connect() as connection:
            query = select(col(Run.ingest_token)).where(col(Run.id) == run_id)
            return str(connection.execute(query).scalar_one())

    def _worker(self, client: httpx.Client, rng: random.Random, index: int) -> None:
        """One fake run from creation to its end, paced like a real worker's reporter."""
        body = {"preset": "2", "name": f"soak w{index}", "overrides": {"epochs": EPOCHS}}
        run_id = client.post("/api/runs", json=body).raise_for_status().json()["id"]
        auth = {"Authorization": f"Bearer {self._token(run_id)}"}
        claim = client.post(f"/api/runs/{run_id}/claim", json={"worker_host": f"soak-{index}"},
                            headers=auth).raise_for_status().json()  # fmt: skip
        seq, attempt = claim["next_seq"], claim["attempt"]
        with self.counters.lock:
            self.recent = [*self.recent[-30:], run_id]
        ending = "failed" if rng.random() < 0.2 else "cancel" if rng.random() < 0.15 else "ok"

        def post(*events: tuple[str, dict[str, Any]]) -> dict[str, Any]:
            nonlocal seq
            batch = []
            for kind, data in events:
                batch.append({"seq": seq, "time": time.time(), "kind": kind, "data": data})
                seq += 1
            clock = time.perf_counter()
            reply = client.post(f"/api/runs/{run_id}/events", headers=auth,
                                json={"events": batch, "attempt": attempt})  # fmt: skip
            self.counters.add(posts=1)
            self.counters.post_ms.append((time.perf_counter() - clock) * 1000)
            result: dict[str, Any] = reply.raise_for_status().json()
            return result

        started = {"start_epoch": 1, "epochs": EPOCHS, "steps_per_epoch": STEPS, "device": "cpu",
                   "device_name": "soak", "precision": "fp32", "parameters": 4_647_524,
                   "dataset": "synthetic"}  # fmt: skip
        post(("started", started))
        history: list[dict[str, float]] = []
        for epoch in range(1, EPOCHS + 1):
            for first in range(1, STEPS + 1, STEPS_PER_POST):
                steps = list(range(first, min(first + STEPS_PER_POST, STEPS + 1)))
                columns = {"epoch": [epoch] * len(steps), "step": steps,
                           "global_step": [(epoch - 1) * STEPS + s for s in steps],
                           "loss": [4.6 / (epoch + s / STEPS) for s in steps],
                           "time": [time.time()] * len(steps)}  # fmt: skip
                if post(("batches", columns))["cancel_requested"]:
                    post(("finished", {"status": "cancelled", "result": {"history": history}}))
                    self.counters.add("cancelled")
                    return
                if ending == "cancel" and epoch == 2 and first == 1:
                    client.post(f"/api/runs/{run_id}/cancel").raise_for_status()
                self.stop.wait(POST_EVERY_S)
            metrics = {"train_loss": 4.0 / epoch, "train_acc": 0.1 * epoch,
                       "test_loss": 4.2 / epoch, "test_acc": 0.09 * epoch,
                       "epoch_seconds": 1.0, "images_per_second": 5000.0, "lr": 0.01}  # fmt: skip
            history.append({"epoch": epoch, **metrics})
            post(("epoch", {"epoch": epoch, "metrics": metrics}))
            if ending == "failed" and epoch == 2:
                post(("failed", {"error": "RuntimeError: soak", "traceback": "Traceback ..."}))
                self.counters.add("failed")
                return
        result = {"history": history, "total_seconds": 3.5, "epochs_completed": EPOCHS}
        post(("finished", {"status": "succeeded", "result": result}))
        self.counters.add("succeeded")

    def _client(self, client: httpx.Client, rng: random.Random, index: int) -> None:
        """One dashboard visit: a stream opened, read for a few seconds, closed."""
        with self.counters.lock:
            recent = list(self.recent)
        path = "/api/stream"
        if recent and rng.random() < 0.75:
            path = f"/api/runs/{rng.choice(recent)}/stream"
        until = time.monotonic() + rng.uniform(1.0, 6.0)
        timeout = httpx.Timeout(10.0, read=1.0)
        self.counters.add(streams=1)
        with (
            contextlib.suppress(httpx.ReadTimeout),
            client.stream("GET", path, timeout=timeout) as response,
        ):
            response.raise_for_status()
            for line in response.iter_lines():
                if line.startswith("data:"):
                    self.counters.add(sse_events=1)
                if time.monotonic() > until or self.stop.is_set():
                    break
        self.stop.wait(rng.uniform(0.0, 0.5))


def _slope_mib_per_min(samples: list[list[float]]) -> float:
    """Least-squares slope of RSS (KiB) over time (s), in MiB per minute."""
    times, rss = [row[0] for row in samples], [row[1] for row in samples]
    if len(set(times)) < 2:
        return 0.0
    return statistics.linear_regression(times, rss).slope * 60 / 1024


def run_soak(soak: Soak, workdir: Path) -> dict[str, Any]:
    """Serve (database and broker in `workdir`), load, sample; the figures as a dict."""
    workdir.mkdir(parents=True, exist_ok=True)
    database_url = f"sqlite:///{workdir / 'soak.db'}"
    samples: list[list[float]] = []  # [seconds, RSS KiB, open fds, threads, anonymous RSS KiB]
    with serving_soak(database_url, workdir / "broker.sqlite") as (base, pid):
        before = _proc(pid)
        traffic = Traffic(base, database_url, soak)
        clock = time.monotonic()
        for thread in traffic.threads:
            thread.start()
        try:
            while (elapsed := time.monotonic() - clock) < soak.minutes * 60:
                now = _proc(pid)
                samples.append([round(elapsed, 1), *(now[k] for k in COLUMNS)])
                time.sleep(min(soak.sample_s, max(soak.minutes * 60 - elapsed, 0.01)))
        finally:
            traffic.join()
        time.sleep(2 * soak.sample_s)  # streams of gone clients notice within a keep-alive
        after = _proc(pid)
        elapsed = round(time.monotonic() - clock, 1)
        samples.append([elapsed, *(after[k] for k in COLUMNS)])
    steady = [row for row in samples if row[0] >= soak.warmup_s] or samples[-2:]
    mib = 1024
    counters = traffic.counters
    posts = counters.post_ms
    return {
        "benchmark": "soak", "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": describe(),
        "settings": asdict(soak), "database": database_url.split(":")[0],
        "rss_mib": {"start": samples[0][1] / mib, "after_warmup": steady[0][1] / mib,
                    "end": samples[-1][1] / mib, "max": max(row[1] for row in samples) / mib,
                    "growth_after_warmup": (steady[-1][1] - steady[0][1]) / mib,
                    "slope_mib_per_min": _slope_mib_per_min(steady),
                    "slope_last_half": _slope_mib_per_min(steady[len(steady) // 2 :]),
                    "anon_growth_after_warmup": (steady[-1][4] - steady[0][4]) / mib},
        "server": {"before": before, "after": after, "max_fds": max(row[2] for row in samples),
                   "max_threads": max(row[3] for row in samples)},
        "traffic": {"runs": counters.runs, "posts": counters.posts, "streams": counters.streams,
                    "post_ms": {"median": statistics.median(posts) if posts else None,
                                "p99": percentile(posts, 99) if posts else None},
                    "sse_events": counters.sse_events, "errors": counters.errors},
        "samples": samples,
    }  # fmt: skip


def run_soak_bench(args: argparse.Namespace) -> int:
    if not args.minutes > 0 or not args.sample_s > 0 or args.workers < 1 or args.clients < 0:
        raise InvalidInputError("bench soak: --minutes, --sample-s, --workers must be above 0")
    print(banner(describe()), flush=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    warmup = args.warmup if args.warmup is not None else min(60.0, args.minutes * 60 / 5)
    soak = Soak(args.minutes, args.workers, args.clients, args.sample_s, warmup, args.seed)
    scratch = Path(f"var/bench/soak-{stamp}")  # database, broker and server log: thrown away
    try:
        report = run_soak(soak, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    out = save(report, args.out, "soak")
    rss, traffic = report["rss_mib"], report["traffic"]
    print(f"{soak.minutes:g} min, {soak.workers} workers, {soak.clients} SSE clients: runs "
          f"{traffic['runs']}, {traffic['posts']} ingest posts, {traffic['streams']} streams, "
          f"{traffic['sse_events']} SSE events, {len(traffic['errors'])} errors")  # fmt: skip
    print(f"API RSS MiB: start {rss['start']:.1f}, after warm-up ({warmup:g} s) "
          f"{rss['after_warmup']:.1f}, end {rss['end']:.1f}, max {rss['max']:.1f}; growth "
          f"after warm-up {rss['growth_after_warmup']:+.1f} (anonymous "
          f"{rss['anon_growth_after_warmup']:+.1f}), slope {rss['slope_mib_per_min']:+.2f} "
          f"MiB/min ({rss['slope_last_half']:+.2f} over its last half)")  # fmt: skip
    before, after, ms = report["server"]["before"], report["server"]["after"], traffic["post_ms"]
    print(f"ingest POST median {ms['median'] or 0:.1f} ms, p99 {ms['p99'] or 0:.1f} ms; server "
          f"CPU {after['cpu_s'] - before['cpu_s']} s, "
          f"fds {before['fds']} -> {after['fds']} (max {report['server']['max_fds']}), threads "
          f"{before['threads']} -> {after['threads']}; figures saved to {out}")  # fmt: skip
    return 0
