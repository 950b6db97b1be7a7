"""Reading metric points: per-name series, downsampling, CSV rows and run comparison."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import select as sa_select
from sqlalchemy import text
from sqlalchemy.orm import defer
from sqlmodel import Session, col, select

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


# Downsampling in the database, in one statement on SQLite (3.28+) and PostgreSQL alike:
# each series (a name) is numbered in step order and cut into `buckets` buckets of equal
# size; of a series longer than `max_points` each bucket keeps its first, last, lowest and
# highest point (nulls, the diverged steps, rank last), so spikes and the range survive.
# The index (run_id, name, step) serves the scan in step order.
_DOWNSAMPLE = """
WITH numbered AS (
  SELECT name, seq, epoch, step, value, time,
         ROW_NUMBER() OVER (PARTITION BY name ORDER BY step, id) AS rn,
         COUNT(*) OVER (PARTITION BY name) AS total
  FROM metric_point WHERE run_id = :run_id {filters}
), bucketed AS (
  SELECT name, seq, epoch, step, value, time, rn, total,
         ((rn - 1) * :buckets) / total AS bucket
  FROM numbered
), ranked AS (
  SELECT name, seq, epoch, step, value, time, rn, total,
         MIN(rn) OVER bucket_window AS first_rn,
         MAX(rn) OVER bucket_window AS last_rn,
         ROW_NUMBER() OVER (PARTITION BY name, bucket
           ORDER BY CASE WHEN value IS NULL THEN 1 ELSE 0 END, value, rn) AS low_rank,
         ROW_NUMBER() OVER (PARTITION BY name, bucket
           ORDER BY CASE WHEN value IS NULL THEN 1 ELSE 0 END, value DESC, rn) AS high_rank
  FROM bucketed
  WINDOW bucket_window AS (PARTITION BY name, bucket)
)
SELECT name, seq, epoch, step, value, time, total FROM ranked
WHERE total <= :max_points OR rn = first_rn OR rn = last_rn OR low_rank = 1 OR high_rank = 1
ORDER BY name, rn
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
    params: dict[str, int | str] = {"run_id": run_id, "max_points": max_points}
    params["buckets"] = max(1, max_points // 4)
    if names:
        marks = ", ".join(f":name_{i}" for i in range(len(names)))
        filters += f" AND name IN ({marks})"
        params.update({f"name_{i}": name for i, name in enumerate(names)})
    if since_seq:
        filters, params["since_seq"] = filters + " AND seq > :since_seq", since_seq
    out: dict[str, list[SeriesPoint]] = defaultdict(list)
    cut: dict[str, int] = {}
    rows = session.execute(text(_DOWNSAMPLE.format(filters=filters)), params)
    for name, seq, epoch, step, value, time, total in rows:
        out[name].append({"seq": seq, "epoch": epoch, "step": step, "value": value, "time": time})
        if total > max_points:
            cut[name] = int(total)
    return dict(out), cut


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


def compare(session: Session, run_ids: Sequence[int]) -> dict[str, Any]:
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
    return {
        "epochs": epochs,
        "runs": [
            {
                "id": run.id,
                "name": run.name,
                "preset": run.preset,
                "status": run.status,
                "summary": {
                    "final_test_acc": run.final_test_acc,
                    "best_test_acc": run.best_test_acc,
                    "final_train_loss": run.final_train_loss,
                    "final_test_loss": run.final_test_loss,
                    "duration_s": run.duration_s,
                    "images_per_second": run.images_per_second,
                    "parameters": run.parameters,
                },
                "series": {
                    name: [table[run.id][name].get(epoch) for epoch in epochs]
                    for name in EPOCH_METRICS
                },
            }
            for run in ordered
            if run.id is not None
        ],
        "references": references,
        "config_diff": config_diff([run.config for run in ordered]),
    }
