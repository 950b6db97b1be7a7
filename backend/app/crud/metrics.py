"""Reading metric points: per-name series, downsampling, CSV rows and run comparison."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import select as sa_select
from sqlalchemy import text
from sqlalchemy.orm import defer
from sqlmodel import Session, col, select

from backend.app.core.stats import time_to_accuracy, value_at
from backend.app.crud.errors import NotFound
from backend.app.models import MetricPoint, Run
from worker.schema.events import EPOCH_METRICS
from worker.schema.presets import all_presets

SeriesPoint = dict[str, Any]  # {"seq", "epoch", "step", "value", "time"}


def series(
    session: Session,
    run_id: int,
    names: Sequence[str] = (),
    since_seq: int = 0,
) -> dict[str, list[SeriesPoint]]:
    """Every point per metric name, ordered by step."""
    query = sa_select(
        col(MetricPoint.name),
        col(MetricPoint.seq),
        col(MetricPoint.epoch),
        col(MetricPoint.step),
        col(MetricPoint.value),
        col(MetricPoint.time),
    ).where(col(MetricPoint.run_id) == run_id)
    if names:
        query = query.where(col(MetricPoint.name).in_(list(names)))
    if since_seq:
        query = query.where(col(MetricPoint.seq) > since_seq)
    query = query.order_by(col(MetricPoint.name), col(MetricPoint.step), col(MetricPoint.id))
    out: dict[str, list[SeriesPoint]] = defaultdict(list)
    for name, seq, epoch, step, value, time in session.execute(query):
        out[name].append({"seq": seq, "epoch": epoch, "step": step, "value": value, "time": time})
    return dict(out)


# Downsampling in the database, portable SQL for SQLite and PostgreSQL: a series (a name)
# longer than `max_points` is cut into `buckets` buckets of equal step ranges; aggregate
# window functions over each bucket (no ordering inside it: one pass over the index range
# (run_id, name, step)) find its first and last step and its lowest and highest value, and
# only the rows that hold one of them come back, so spikes and the range survive. Ties (a
# flat series) are trimmed to one row each in Python.
_COUNTS = """
SELECT name, COUNT(*), MIN(step), MAX(step) FROM metric_point
WHERE run_id = :run_id {filters} GROUP BY name
"""
_EDGES = """
SELECT seq, epoch, step, value, time, bucket, first_step, last_step, low, high FROM (
  SELECT seq, epoch, step, value, time, bucket,
         MIN(step) OVER bucket_window AS first_step, MAX(step) OVER bucket_window AS last_step,
         MIN(value) OVER bucket_window AS low, MAX(value) OVER bucket_window AS high
  FROM (
    SELECT seq, epoch, step, value, time, ((step - :low_step) * :buckets) / :span AS bucket
    FROM metric_point WHERE run_id = :run_id AND name = :name {since}
  ) bucketed
  WINDOW bucket_window AS (PARTITION BY bucket)
) edged
WHERE step = first_step OR step = last_step OR value = low OR value = high
ORDER BY step, seq
"""


def downsampled_series(
    session: Session,
    run_id: int,
    names: Sequence[str] = (),
    since_seq: int = 0,
    max_points: int = 1000,
) -> tuple[dict[str, list[SeriesPoint]], dict[str, int]]:
    """Each series at most `max_points` long, and {name: points stored} of those cut."""
    filters = ""
    params: dict[str, int | str] = {"run_id": run_id}
    if names:
        marks = ", ".join(f":name_{i}" for i in range(len(names)))
        filters += f" AND name IN ({marks})"
        params.update({f"name_{i}": name for i, name in enumerate(names)})
    since = " AND seq > :since_seq" if since_seq else ""
    if since_seq:
        params["since_seq"] = since_seq
    counts = session.execute(text(_COUNTS.format(filters=filters + since)), params).all()
    short = [name for name, total, _, _ in counts if total <= max_points]
    out = series(session, run_id, short, since_seq) if short else {}
    cut: dict[str, int] = {}
    for name, total, low_step, high_step in counts:
        if total <= max_points:
            continue
        cut[name] = int(total)
        edges = {
            "run_id": run_id, "name": name, "low_step": low_step, "span": high_step - low_step + 1,
            "buckets": max(1, max_points // 4),  # each keeps up to 4 points
        }  # fmt: skip
        if since_seq:
            edges["since_seq"] = since_seq
        rows = session.execute(text(_EDGES.format(since=since)), edges)
        out[name] = _one_of_each(rows)
    return out, cut


def _one_of_each(rows: Any) -> list[SeriesPoint]:
    """Of each bucket's rows (in step order) the first, last, lowest and highest, once."""
    kept: list[SeriesPoint] = []
    roles: dict[int, set[str]] = defaultdict(set)  # bucket -> the roles already filled
    pending_last: dict[int, SeriesPoint] = {}
    for seq, epoch, step, value, time, bucket, first, last, low, high in rows:
        point = {"seq": seq, "epoch": epoch, "step": step, "value": value, "time": time}
        taken, wanted = roles[bucket], set()
        if step == first and "first" not in taken:
            wanted.add("first")
        if value is not None and value == low and "low" not in taken:
            wanted.add("low")
        if value is not None and value == high and "high" not in taken:
            wanted.add("high")
        if wanted:
            taken |= wanted
            kept.append(point)
        elif step == last:
            pending_last[bucket] = point  # the bucket's very last row wins
    for point in pending_last.values():
        if all(point is not other for other in kept):
            kept.append(point)
    kept.sort(key=lambda point: (point["step"], point["seq"]))
    return kept


def csv_rows(session: Session, run_id: int) -> Iterator[tuple[Any, ...]]:
    query = (
        sa_select(
            col(MetricPoint.seq),
            col(MetricPoint.epoch),
            col(MetricPoint.step),
            col(MetricPoint.name),
            col(MetricPoint.value),
            col(MetricPoint.time),
        )
        .where(col(MetricPoint.run_id) == run_id)
        .order_by(col(MetricPoint.seq), col(MetricPoint.id))
    )
    for row in session.execute(query):
        yield tuple(row)


def _epoch_series(session: Session, run_ids: Sequence[int]) -> dict[int, dict[str, dict[int, Any]]]:
    """run -> metric -> epoch -> value, for the per-epoch metrics only."""
    query = select(
        MetricPoint.run_id, MetricPoint.name, MetricPoint.epoch, MetricPoint.value
    ).where(col(MetricPoint.run_id).in_(list(run_ids)), col(MetricPoint.name).in_(EPOCH_METRICS))
    table: dict[int, dict[str, dict[int, Any]]] = {i: defaultdict(dict) for i in run_ids}
    for run_id, name, epoch, value in session.exec(query):
        table[run_id][name][epoch] = value
    return table


def config_diff(configs: Sequence[dict[str, Any]]) -> dict[str, list[Any]]:
    """Only the config fields whose values are not all equal, one value per run."""
    fields = sorted({key for config in configs for key in config})
    return {
        key: [config.get(key) for config in configs]
        for key in fields
        if len({repr(config.get(key)) for config in configs}) > 1
    }


def _extras(
    run: Run, series: dict[str, list[Any]], threshold: float | None, epoch: int | None
) -> dict[str, Any]:
    """Time to `threshold` (default: the report's final accuracy of the run's point) and
    the test accuracy at `epoch` when asked."""
    if threshold is None:
        point = all_presets().get(run.preset or "")
        final = point.reference.final_accuracy if point else None
        threshold = None if final is None else final / 100
    accuracy = series["test_acc"]
    tta = time_to_accuracy(accuracy, series["epoch_seconds"], threshold)
    at = None if epoch is None else value_at(accuracy, "epoch", epoch)
    return {"time_to_accuracy": tta.model_dump(), "test_acc_at_epoch": at}


def compare(
    session: Session,
    run_ids: Sequence[int],
    threshold: float | None = None,
    epoch: int | None = None,
) -> dict[str, Any]:
    # `result` (confusion matrices, tens of kB a run) is not compared: leave it unread.
    query = select(Run).where(col(Run.id).in_(run_ids)).options(defer(Run.result))  # type: ignore[arg-type]
    runs = {run.id: run for run in session.exec(query)}
    missing = [i for i in run_ids if i not in runs]
    if missing:
        raise NotFound(f"runs {', '.join(map(str, missing))} do not exist")
    ordered = [runs[i] for i in run_ids]
    table = _epoch_series(session, run_ids)
    last_epoch = max((max(s, default=0) for t in table.values() for s in t.values()), default=0)
    epochs = list(range(1, last_epoch + 1))
    presets = all_presets()
    references = {
        run.preset: presets[run.preset].to_dict()["reference"]
        for run in ordered
        if run.preset in presets
    }
    series = {
        run.id: {
            name: [table[run.id][name].get(epoch) for epoch in epochs] for name in EPOCH_METRICS
        }
        for run in ordered
        if run.id is not None
    }
    return {
        "epochs": epochs,
        "runs": [
            {
                "id": run.id,
                "name": run.name,
                "preset": run.preset,
                "group_id": run.group_id,
                "status": run.status,
                "summary": {
                    "final_test_acc": run.final_test_acc,
                    "best_test_acc": run.best_test_acc,
                    "final_train_loss": run.final_train_loss,
                    "final_test_loss": run.final_test_loss,
                    "duration_s": run.duration_s,
                    "images_per_second": run.images_per_second,
                    "parameters": run.parameters,
                    **_extras(run, series[run.id], threshold, epoch),
                },
                "series": series[run.id],
            }
            for run in ordered
            if run.id is not None
        ],
        "references": references,
        "config_diff": config_diff([run.config for run in ordered]),
    }
