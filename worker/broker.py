"""The embedded broker: Kombu's SQLAlchemy transport on a SQLite file, polled 10x a second.

Kombu's virtual transports sleep `polling_interval` seconds after an empty poll (1 s by
default), which a run submitted to an idle worker waits out before it starts. The interval
cannot be set through Celery's transport options here: the SQLAlchemy transport hands those
to `create_engine`. So it is a subclass, registered under its own URL scheme.
"""

from __future__ import annotations

from kombu.transport import TRANSPORT_ALIASES
from kombu.transport.sqlalchemy import Transport as SqlAlchemyTransport

SCHEME = "runboard-sqla"  # broker URLs look like runboard-sqla+sqlite:////abs/path


class Transport(SqlAlchemyTransport):
    polling_interval = 0.1  # seconds between polls of an empty queue


TRANSPORT_ALIASES.setdefault(SCHEME, "worker.broker:Transport")
