"""The embedded broker: Kombu's SQLAlchemy transport on a SQLite file, polled 10x a second.

Kombu's virtual transports sleep `polling_interval` seconds after an empty poll (1 s by
default), which a run submitted to an idle worker waits out before it starts. The interval
cannot be set through Celery's transport options here: the SQLAlchemy transport hands those
to `create_engine`. So it is a subclass, registered under its own URL scheme.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field

import sqlalchemy
import sqlalchemy.exc
from kombu.transport import TRANSPORT_ALIASES
from kombu.transport.sqlalchemy import Transport as SqlAlchemyTransport

from worker.client import ApiClient, RefusedError, TransientError
from worker.schema.broker import EMBEDDED_SCHEME as SCHEME  # runboard-sqla+sqlite:////path
from worker.schema.status import FINISHED


class Transport(SqlAlchemyTransport):
    polling_interval = 0.1  # seconds between polls of an empty queue


TRANSPORT_ALIASES.setdefault(SCHEME, "worker.broker:Transport")


# --- deliveries orphaned by a killed worker -------------------------------------------------
# Kombu's SQLAlchemy transport hides a message when a worker takes it (visible = 0) and never
# shows it again: there is no visibility timeout as on Redis, and a worker killed between
# taking a task and claiming its run (or one that takes SIGKILL while its claim waits for an
# unreachable API) leaves a hidden message whose run stays `queued` for ever. The watchdog
# cannot help: the run never ran. So each worker, when it starts and then every minute
# (RUNBOARD_ORPHAN_SWEEP_S), asks the API about every hidden message's run: a run still
# queued, with no visible message of its own, is shown again; the messages of finished or
# deleted runs are removed (Kombu keeps delivered ones); those of running runs belong to
# live workers and stay. A message shown again while a live
# worker is a few milliseconds from claiming it is delivered twice, and the API's claim
# fences the second delivery out, as it does any broker redelivery.


@dataclass
class OrphanSweep:
    restored: list[int] = field(default_factory=list)  # run ids whose message is shown again
    removed: int = 0  # hidden messages of finished or deleted runs, deleted
    kept: int = 0  # hidden messages of running runs or runs the API could not tell about


def _run_id(payload: str) -> int | None:
    """The run id inside a Kombu message row holding a `runboard.train_run` task."""
    try:
        message = json.loads(payload)
        body = message["body"]
        if message.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body).decode()
        args, kwargs, _ = json.loads(body)  # Celery's task protocol 2: (args, kwargs, embed)
        run_id = kwargs.get("run_id", args[0] if args else None)
    except (ValueError, KeyError, TypeError, IndexError):
        return None
    return run_id if isinstance(run_id, int) else None


def _run_status(api: ApiClient, run_id: int) -> str | None:
    """The run's status, "deleted" for a 404, None when the API cannot tell right now."""
    try:
        status = api.get_run(run_id).get("status")
    except RefusedError as exc:
        return "deleted" if exc.status_code == 404 else None
    except TransientError:
        return None
    return status if isinstance(status, str) else None


def restore_orphans(url: str, api: str, queue: str, timeout_s: float = 5.0) -> OrphanSweep:
    """Show again the hidden messages of runs that are still queued (see above); a no-op for
    other brokers (Redis redelivers on its own after its visibility timeout)."""
    sweep = OrphanSweep()
    if not url.startswith(f"{SCHEME}+"):
        return sweep
    engine = sqlalchemy.create_engine(url.split("+", 1)[1])
    rows_of_queue = (
        "SELECT m.id, m.visible, m.payload FROM kombu_message m"
        " JOIN kombu_queue q ON q.id = m.queue_id WHERE q.name = :queue"
    )
    try:
        with engine.connect() as connection:
            rows = connection.execute(sqlalchemy.text(rows_of_queue), {"queue": queue}).all()
        waiting = {_run_id(payload) for _, visible, payload in rows if visible}
        hidden = [(row_id, _run_id(payload)) for row_id, visible, payload in rows if not visible]
        show, remove = [], []
        with ApiClient(api, timeout_s=timeout_s) as client:
            for row_id, run_id in hidden:
                status = None if run_id is None else _run_status(client, run_id)
                if status == "queued" and run_id not in waiting:
                    show.append(row_id)
                    waiting.add(run_id)  # one message per run is enough
                    sweep.restored.append(run_id)  # type: ignore[arg-type]
                elif status in FINISHED_OR_GONE or (status == "queued" and run_id in waiting):
                    remove.append(row_id)
                else:
                    sweep.kept += 1
        with engine.begin() as connection:
            for row_id in show:
                connection.execute(
                    sqlalchemy.text("UPDATE kombu_message SET visible = 1 WHERE id = :id"),
                    {"id": row_id},
                )
            for row_id in remove:
                connection.execute(
                    sqlalchemy.text("DELETE FROM kombu_message WHERE id = :id"), {"id": row_id}
                )
        sweep.removed = len(remove)
    except sqlalchemy.exc.OperationalError:  # a new broker file: no Kombu tables yet
        pass
    finally:
        engine.dispose()
    return sweep


FINISHED_OR_GONE = (*FINISHED, "deleted")  # "deleted": the API no longer has the run
