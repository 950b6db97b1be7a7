"""The schema comes from the Alembic migrations: it matches the models, and reopening or
upgrading a database keeps its rows."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy import Column, Engine, Integer, MetaData, Table
from sqlmodel import Session, SQLModel

from backend.app import crud
from backend.app.core.config import Settings
from backend.app.core.db import MIGRATIONS, migrate
from backend.app.main import create_app
from tests.backend.api.helpers import (
    app_engine,
    db_dump,
    failed,
    finished_run,
    get_run,
    running_run,
)
from tests.backend.conftest import RecordingDispatcher


def schema_differences(engine: Engine, metadata: MetaData = SQLModel.metadata) -> list[Any]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))


def revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def downgrade(engine: Engine, to: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:  # batch mode copies tables, which SQLite's foreign keys would refuse
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        config.attributes["connection"] = connection
        command.downgrade(config, to)
        if sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")


def head() -> str | None:
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def state(client: TestClient, run_ids: list[int]) -> list[Any]:
    """What the API shows of some runs: each run and its metrics."""
    return [
        (client.get(f"/api/runs/{i}").json(), client.get(f"/api/runs/{i}/metrics").json())
        for i in run_ids
    ]


def test_the_migrated_schema_is_exactly_the_models_schema(client: TestClient) -> None:
    engine = app_engine(client)

    assert schema_differences(engine) == []
    assert revision(engine) == head()
    # The comparison does see drift: a model the migrations lack is reported.
    drifted = MetaData()
    for table in SQLModel.metadata.tables.values():
        table.to_metadata(drifted)
    Table("not_migrated", drifted, Column("id", Integer, primary_key=True))
    assert [diff[0] for diff in schema_differences(engine, drifted)] == ["add_table"]


def test_reopening_a_populated_database_migrates_nothing_and_keeps_every_row(
    settings: Settings, dispatcher: RecordingDispatcher
) -> None:
    with TestClient(create_app(settings, dispatcher)) as client:
        done, _ = finished_run(client, epochs=2)
        running, _ = running_run(client)
        shown = state(client, [done, running])
        rows = db_dump(app_engine(client))
        migrate(app_engine(client))  # a second migration on the same engine: a no-op
        assert db_dump(app_engine(client)) == rows

    with TestClient(create_app(settings, dispatcher)) as client:
        engine = app_engine(client)
        assert db_dump(engine) == rows
        assert state(client, [done, running]) == shown
        assert schema_differences(engine) == [] and revision(engine) == head()
        assert client.get("/api/runs").json()["total"] == 2
        new = client.post("/api/runs", json={"preset": "2"})  # ids continue after the old ones
        assert new.status_code == 201 and new.json()["id"] > max(done, running)


def test_a_database_at_the_first_revision_is_upgraded_keeping_its_rows(
    settings: Settings, dispatcher: RecordingDispatcher
) -> None:
    with TestClient(create_app(settings, dispatcher)) as client:
        done, _ = finished_run(client, epochs=1)
        shown = state(client, [done])
        engine = app_engine(client)
        first = ScriptDirectory(str(MIGRATIONS)).get_base()
        assert first is not None
        downgrade(engine, first)
        assert revision(engine) == first

    with TestClient(create_app(settings, dispatcher)) as client:
        assert revision(app_engine(client)) == head()
        assert schema_differences(app_engine(client)) == []
        assert state(client, [done]) == shown


def test_upgrading_to_the_failure_field_keeps_which_failed_runs_were_lost(
    settings: Settings, dispatcher: RecordingDispatcher
) -> None:
    with TestClient(create_app(settings, dispatcher)) as client:
        crashed, worker = running_run(client)
        worker.ok(failed("CUDA out of memory"))
        lost, _ = running_run(client)
        with Session(app_engine(client)) as session:
            crud.mark_lost_runs(session, -1.0)
            session.commit()
        done, _ = finished_run(client, epochs=1)
        engine = app_engine(client)
        downgrade(engine, "0002")  # before the field: only the error text tells
        assert revision(engine) == "0002"

    with TestClient(create_app(settings, dispatcher)) as client:
        assert revision(app_engine(client)) == head()
        failures = {i: get_run(client, i)["failure"] for i in (crashed, lost, done)}
        assert failures == {crashed: "error", lost: "worker_lost", done: None}
