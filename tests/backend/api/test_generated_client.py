"""The document is enough to use the API: a typed client generated from a live server's
/openapi.json by openapi-python-client (into tmp_path, never committed) submits a run,
reads it and follows it to the end while the test's worker trains it."""

from __future__ import annotations

import importlib
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.live import Worker, run_server

pytestmark = pytest.mark.timeout(180)

GENERATOR = str(Path(sys.executable).with_name("openapi-python-client"))
PACKAGE = "runboard_generated_client"


def generate(base_url: str, where: Path) -> Any:
    """The client package, generated and imported; every operation parsed without warning."""
    document = where / "openapi.json"
    document.write_bytes(httpx.get(f"{base_url}/openapi.json", timeout=10).content)
    command = [GENERATOR, "generate", "--path", str(document), "--meta", "none"]
    command += ["--output-path", str(where / PACKAGE)]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "WARNING parsing" not in output and "Unable to" not in output, output
    sys.path.insert(0, str(where))
    importlib.invalidate_caches()
    return importlib.import_module(PACKAGE)


def test_a_client_generated_from_the_document_submits_reads_and_follows_a_run(
    tmp_path: Path,
) -> None:
    database_url = f"sqlite:///{tmp_path / 'runboard.db'}"
    with run_server(database_url, tmp_path / "server") as server:
        client_package = generate(server.url, tmp_path)
        try:
            api = importlib.import_module(f"{PACKAGE}.api.runs")
            metrics_api = importlib.import_module(f"{PACKAGE}.api.metrics")
            models = importlib.import_module(f"{PACKAGE}.models")
            client = client_package.Client(base_url=server.url, raise_on_unexpected_status=True)

            overrides = models.RunOverrides(
                dataset=models.RunOverridesDataset.SYNTHETIC, epochs=2, batch_size=32
            )
            body = models.RunCreate(
                preset=models.RunCreatePreset("2"), overrides=overrides, tags=["generated"]
            )
            created = importlib.import_module(f"{PACKAGE}.api.runs.create_run").sync(
                client=client, body=body
            )
            assert isinstance(created, models.RunDetail), created
            assert created.status == models.RunStatus.QUEUED
            assert created.config["epochs"] == 2 and created.tags == ["generated"]

            read_run = importlib.import_module(f"{api.__name__}.read_run")
            assert read_run.sync(created.id, client=client).name == created.name

            worker = Worker(server.url, database_url, created.id, epochs=2)
            worker.start()
            statuses = [read_run.sync(created.id, client=client).status]
            for epoch in (1, 2):
                worker.epoch(epoch, test_acc=0.1 * epoch)
                statuses.append(read_run.sync(created.id, client=client).status)
            worker.finish()

            deadline = time.monotonic() + 30
            while (run := read_run.sync(created.id, client=client)).status not in (
                models.RunStatus.SUCCEEDED,
                models.RunStatus.FAILED,
                models.RunStatus.CANCELLED,
            ):
                assert time.monotonic() < deadline, run
                time.sleep(0.2)
            assert statuses[-1] == models.RunStatus.RUNNING
            assert run.status == models.RunStatus.SUCCEEDED and run.epoch == 2
            assert run.best_test_acc == pytest.approx(0.2)

            read_metrics = importlib.import_module(f"{metrics_api.__name__}.read_metrics")
            series = read_metrics.sync(created.id, client=client, names="test_acc")
            points = series["series"]["test_acc"]
            assert [point["value"] for point in points] == pytest.approx([0.1, 0.2])
        finally:
            sys.path.remove(str(tmp_path))
            for name in [module for module in sys.modules if module.startswith(PACKAGE)]:
                del sys.modules[name]
