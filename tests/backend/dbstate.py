"""The database's whole state, for "a refused request changed nothing" checks.

Tables are found by reflection, not from the models, so that a table the models do not know
(Alembic's version table, one added by a later migration) is compared too.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Engine, MetaData, select

Dump = dict[str, list[tuple[Any, ...]]]
_reflected: weakref.WeakKeyDictionary[Engine, MetaData] = weakref.WeakKeyDictionary()


def dump(engine: Engine) -> Dump:
    """Every row of every table, each table ordered by its primary key (or all columns)."""
    metadata = _reflected.get(engine)
    if metadata is None:  # reflected once per engine: the schema does not change in a test
        metadata = _reflected[engine] = MetaData()
        metadata.reflect(bind=engine)
    state: Dump = {}
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            order = list(table.primary_key.columns) or list(table.columns)
            rows = connection.execute(select(table).order_by(*order))
            state[table.name] = [tuple(row) for row in rows]
    return state


def differences(before: Dump, after: Dump) -> dict[str, str]:
    """Per changed table, how many rows it held before and after."""
    return {
        name: f"{len(before.get(name, []))} -> {len(after.get(name, []))} rows"
        for name in sorted(before.keys() | after.keys())
        if before.get(name) != after.get(name)
    }


@contextlib.contextmanager
def unchanged(engine: Engine, what: object = "") -> Iterator[None]:
    """Asserts that every table holds exactly the same rows afterwards."""
    before = dump(engine)
    yield
    after = dump(engine)
    assert after == before, f"{what}: the database changed: {differences(before, after)}"
