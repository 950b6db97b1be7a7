"""Bad command-line arguments, every subcommand, table-driven: exit code 2 and one readable
line on stderr naming what is wrong; no traceback, nothing on stdout, nothing started.

The table runs in-process through `main(argv)` (each row would otherwise pay for a Python
start); what would start work (training, a server, a worker, a benchmark) is replaced by a
stub that fails the test if a bad argument ever reaches it (`train` and `submit` keep the
config checks they make first). A few rows also run as real
processes, as a user types them.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runboard.cli.main import main
from runboard.cli.train import config_from_args

RUNBOARD = str(Path(sys.executable).with_name("runboard"))

BAD: list[tuple[list[str], str]] = [
    # argv, words the one line must contain
    ([], "required"),
    (["fly"], "invalid choice"),
    (["presets", "--bogus"], "unrecognized arguments"),
    (["presets", "extra"], "unrecognized arguments"),
    (["train"], "--preset"),
    (["train", "--preset", "9"], "unknown preset '9'"),
    (["train", "--preset", "../2"], "unknown preset"),
    (["train", "--preset", "2", "--set", "lr=-1"], "lr: Input should be greater than 0"),
    (["train", "--preset", "2", "--set", "lr=fast"], "lr:"),
    (["train", "--preset", "2", "--set", "widths=1/2"], "widths: needs exactly 4"),
    (["train", "--preset", "2", "--set", "colour=red"], "colour: unknown field"),
    (["train", "--preset", "2", "--set", "lr"], "expected key=value"),
    (["train", "--preset", "2", "--set", "=1"], "expected key=value"),
    (["train", "--preset", "2", "--epochs", "x"], "invalid int value"),
    (["train", "--preset", "2", "--epochs", "0"], "epochs:"),
    (["train", "--preset", "2", "--dataset", "mnist"], "invalid choice"),
    (["train", "--preset", "2", "--set", "dataset=/etc/passwd"], "dataset:"),
    (["train", "--preset", "2", "--set", "device=/dev/sda"], "device:"),
    (["train", "--preset", "1", "--set", "image_size=224"], "image_size: the MLP takes"),
    (["train", "--preset", "2", "--set", "image_size=512"], "parameters"),
    (["train", "--preset", "1", "--set", "fc_width=65536"], "fc_width: the network would have"),
    (["train", "--preset", "3c", "--set", "batch_size=65536"], "batch_size:"),
    (["submit"], "--preset"),
    (["submit", "--preset", "7"], "unknown preset '7'"),
    (["submit", "--preset", "2", "--set", "nope=1"], "nope: unknown field"),
    (["submit", "--preset", "2", "--url", "ftp://host"], "http:// or https://"),
    (["submit", "--preset", "2", "--url", "localhost:8000"], "http:// or https://"),
    (["submit", "--preset", "2", "--wait", "yes"], "unrecognized arguments"),
    (["serve", "--port", "web"], "invalid int value"),
    (["serve", "--port", "0"], "at least 1"),
    (["serve", "--port", "70000"], "1 to 65535"),
    (["serve", "--workers", "2"], "unrecognized arguments"),
    (["serve", "--api-workers", "0"], "at least 1"),
    (["worker", "--gpu", "one"], "invalid int value"),
    (["worker", "--gpu", "-1"], "at least 0"),
    (["worker", "--queues", ""], "queue names"),
    (["worker", "--queues", "a,,b"], "queue names"),
    (["users"], "required"),
    (["users", "add"], "required: name"),
    (["users", "add", "Ada Lovelace"], "a user name is"),
    (["users", "revoke", "../ada"], "a user name is"),
    (["bench"], "required"),
    (["bench", "gpu"], "invalid choice"),
    (["bench", "trainer", "--presets", "2,9"], "unknown preset '9'"),
    (["bench", "trainer", "--steps", "0"], "at least 1"),
    (["bench", "trainer", "--rounds", "-2"], "at least 1"),
    (["bench", "trainer", "--warmup", "-1"], "at least 0"),
    (["bench", "trainer", "--batch-size", "0"], "at least 1"),
    (["bench", "trainer", "--device", "tpu"], "must be auto, cpu"),
    (["bench", "api", "--requests", "0"], "at least 1"),
    (["bench", "api", "--requests", "many"], "invalid int value"),
    (["bench", "worker", "--rounds", "0"], "at least 1"),
    (["bench", "worker", "--launches", "x"], "invalid int value"),
    (["bench", "story", "--presets", "1,7"], "unknown preset '7'"),
    (["bench", "story", "--epochs", "0"], "at least 1"),
    (["bench", "story", "--jobs", "0"], "at least 1"),
    (["bench", "story", "--train-subset", "few"], "invalid int value"),
]


@pytest.fixture
def nothing_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever a subcommand would start fails the test instead."""

    def started(*args: object, **kwargs: object) -> int:
        raise AssertionError("a bad argument got as far as starting the work")

    def train_checks_its_config_first(args: argparse.Namespace) -> int:
        config_from_args(args)  # what run_training does before anything else
        return started()

    monkeypatch.setattr("runboard.cli.train.run_training", train_checks_its_config_first)
    monkeypatch.setattr("worker.client.ApiClient.create_run", started)
    for module, name in [
        ("runboard.cli.worker", "run_worker"),
        ("runboard.cli.presets", "show_presets"),
        ("runboard.cli.serve", "serve"),
        ("runboard.cli.users", "run_users"),
        ("runboard.bench.api", "run_api_bench"),
        ("runboard.bench.worker", "run_worker_bench"),
        ("runboard.bench.trainer", "run_trainer_bench"),
        ("runboard.bench.story", "run_story_bench"),
    ]:
        monkeypatch.setattr(f"{module}.{name}", started)


@pytest.mark.usefixtures("nothing_starts")
@pytest.mark.parametrize(("argv", "words"), BAD, ids=[" ".join(argv) or "-" for argv, _ in BAD])
def test_a_bad_argument_exits_2_with_one_line_naming_it(
    argv: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(argv)

    out, err = capsys.readouterr()
    assert code == 2, err
    assert err.startswith("runboard: error: ") and err.count("\n") == 1, err
    assert words in err, err
    assert "Traceback" not in err and out == ""


def test_every_subcommand_has_rows_in_the_table() -> None:
    commands = {argv[0] for argv, _ in BAD if argv}
    assert {"presets", "train", "submit", "serve", "worker", "bench", "users"} <= commands
    assert {argv[1] for argv, _ in BAD if argv[:1] == ["bench"] and len(argv) > 1} >= {
        "trainer",
        "api",
        "worker",
    }


@pytest.mark.parametrize(
    "argv",
    [
        ["worker", "--gpu", "-1"],
        ["serve", "--port", "70000"],
        ["submit", "--preset", "2", "--url", "ftp://host"],
        ["train", "--preset", "2", "--set", "image_size=512"],
    ],
)
def test_as_a_real_process_a_bad_argument_is_one_line_and_exit_2(
    argv: list[str], tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNBOARD_")}
    done = subprocess.run(
        [RUNBOARD, *argv], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )

    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("runboard: error: ") and done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert list(tmp_path.iterdir()) == []  # nothing written: refused before any work
