"""`runboard submit` as a user runs it: a real process against a real server, with a
simulated worker driving the run when `--wait` follows it."""

from __future__ import annotations

import contextlib
import re
import subprocess
from collections.abc import Callable, Iterator

import pytest

from tests.support.live import (
    RUNBOARD,
    ServerProcess,
    Worker,
    clean_env,
    free_port,
    http,
    read_line,
)

pytestmark = pytest.mark.timeout(90)


def submit(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [RUNBOARD, "submit", *args],
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )


@contextlib.contextmanager
def submitting(*args: str) -> Iterator[subprocess.Popen[str]]:
    """`runboard submit ARGS` in the background; killed if still running at the end."""
    process = subprocess.Popen(
        [RUNBOARD, "submit", *args],
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


def one_line(text: str) -> str:
    lines = text.splitlines()
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


def get_run(server: ServerProcess, run_id: int) -> dict[str, object]:
    response = http.get(f"{server.url}/api/runs/{run_id}")
    assert response.status_code == 200, response.text
    run: dict[str, object] = response.json()
    return run


def test_submit_prints_the_run_id_and_queues_the_preset_with_the_overrides(
    shared_server: ServerProcess,
) -> None:
    done = submit(
        "--preset", "4a", "--set", "lr=0.003", "--set", "widths=64/64/64/128",
        "--set", "epochs=2", "--name", "wider 4a", "--tag", "cli", "--tag", "lr",
        "--url", shared_server.url,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"\d+\n", done.stdout), done.stdout
    run = get_run(shared_server, int(done.stdout))
    assert (run["preset"], run["name"], run["tags"]) == ("4a", "wider 4a", ["cli", "lr"])
    assert run["status"] == "queued" and run["epochs"] == 2
    config = run["config"]
    assert isinstance(config, dict)
    assert config["lr"] == 0.003 and config["widths"] == [64, 64, 64, 128]
    assert config["batch_norm"] is True  # the rest of the preset stays


def test_submit_refuses_a_bad_override_with_exit_2_and_one_line_naming_it(
    shared_server: ServerProcess,
) -> None:
    done = submit(
        "--preset", "2", "--set", "lr=-1", "--name", "negative lr", "--url", shared_server.url
    )
    assert done.returncode == 2
    assert done.stdout == ""
    line = one_line(done.stderr)
    assert line.startswith("runboard: error: overrides.lr: ")
    listed = http.get(f"{shared_server.url}/api/runs", params={"q": "negative lr"})
    assert listed.json()["total"] == 0


def test_submit_to_an_unreachable_api_exits_1_with_one_readable_line() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    done = submit("--preset", "2", "--url", url)
    assert done.returncode == 1
    assert done.stdout == ""
    assert one_line(done.stderr).startswith(f"runboard: error: cannot reach the API at {url}")


def test_submit_needs_the_api_token_when_the_server_has_one(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server(RUNBOARD_API_TOKEN="s3cret")

    refused = submit("--preset", "2", "--url", server.url)
    assert refused.returncode == 1 and refused.stdout == ""
    line = one_line(refused.stderr)
    assert "401" in line and "token" in line

    wrong = submit("--preset", "2", "--url", server.url, "--token", "guess")
    assert wrong.returncode == 1 and "401" in one_line(wrong.stderr)

    by_flag = submit("--preset", "2", "--url", server.url, "--token", "s3cret")
    assert by_flag.returncode == 0, by_flag.stderr
    by_env = submit("--preset", "2", "--url", server.url, RUNBOARD_API_TOKEN="s3cret")
    assert by_env.returncode == 0, by_env.stderr

    listed = http.get(f"{server.url}/api/runs").json()
    assert sorted(run["id"] for run in listed["items"]) == sorted(
        [int(by_flag.stdout), int(by_env.stdout)]
    )


@pytest.mark.parametrize(
    ("ending", "exit_code"), [("succeeded", 0), ("failed", 1), ("cancelled", 3)]
)
def test_submit_wait_follows_the_run_live_and_exits_by_how_it_ended(
    shared_server: ServerProcess, ending: str, exit_code: int
) -> None:
    url = shared_server.url
    with submitting("--preset", "2", "--set", "epochs=2", "--url", url, "--wait") as process:
        run_id = int(read_line(process))  # printed at once, while the run is still queued
        worker = Worker(url, shared_server.database_url, run_id, epochs=2)
        worker.start()
        worker.epoch(1, 0.25)
        if ending == "succeeded":
            worker.epoch(2, 0.5)
            worker.finish()
        elif ending == "failed":
            worker.fail("CUDA out of memory")
        else:
            assert http.post(f"{url}/api/runs/{run_id}/cancel").status_code == 200
            assert worker.epoch(2, 0.5)["cancel_requested"] is True
            worker.finish("cancelled")
        stdout, stderr = process.communicate(timeout=30)

    assert process.returncode == exit_code, stderr
    assert stdout == ""  # the id was the only line, read above
    lines = stderr.splitlines()
    assert lines[0].startswith(f"queued run {run_id}: ")
    assert "status: queued" in lines and "status: running" in lines
    assert lines[-1 if ending != "failed" else -2] == f"status: {ending}"
    epoch_lines = [line for line in lines if line.startswith("epoch ")]
    assert epoch_lines[0].startswith("epoch 1: ") and "test_acc 0.25" in epoch_lines[0]
    assert len(epoch_lines) == (1 if ending == "failed" else 2)
    if ending == "failed":
        assert lines[-1] == "error: CUDA out of memory"
    assert get_run(shared_server, run_id)["status"] == ending
