"""The `runboard` console script, run as a user would: a real process, real output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

RUNBOARD = str(Path(sys.executable).with_name("runboard"))
TINY = [
    "--dataset", "synthetic",
    "--set", "train_subset=512", "--set", "test_subset=200",
    "--set", "widths=8/8/8/16", "--set", "fc_width=64", "--set", "batch_size=64",
    "--quiet",
]  # fmt: skip


def runboard(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "RUNBOARD_DATA_DOWNLOAD": "0", **(env or {})}
    return subprocess.run(
        [RUNBOARD, *args], cwd=cwd, env=environment, capture_output=True, text=True, timeout=300
    )


def test_presets_lists_every_homework_point_with_its_parameter_count(tmp_path: Path) -> None:
    done = runboard("presets", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    ids = [line.split()[0] for line in lines[2:14]]
    assert ids == ["1", "2", "3a", "3b", "3c", "4a", "4b", "4c", "5a", "5b", "6", "free"]
    assert "29,778,020" in lines[2] and "4,647,524" in lines[3] and "11,227,812" in lines[12]


def test_presets_json_carries_configs_and_reference_curves(tmp_path: Path) -> None:
    done = runboard("presets", "--json", cwd=tmp_path)
    presets = {p["id"]: p for p in json.loads(done.stdout)}
    assert presets["4b"]["config"]["batch_size"] == 128
    assert presets["5b"]["reference"]["loss"][6] is None
    assert presets["1"]["parameters"] == 29_778_020


def test_train_prints_template_epoch_lines_and_writes_a_result_file(tmp_path: Path) -> None:
    out = tmp_path / "run"
    done = runboard(
        "train", "--preset", "2", "--epochs", "2", *TINY, "--out", str(out), cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "synthetic" in done.stdout
    epoch_lines = [line for line in done.stdout.splitlines() if line.startswith("[")]
    assert [line.split("]")[0] for line in epoch_lines] == ["[1, 8", "[2, 8"]
    assert all("Accuracy of the network on the test set:" in line for line in epoch_lines)
    result = json.loads((out / "result.json").read_text())
    assert result["status"] == "succeeded" and result["epochs_completed"] == 2
    assert result["dataset"].startswith("synthetic")
    assert (out / "checkpoint.pt").is_file()


def test_train_again_with_more_epochs_resumes_from_the_checkpoint(tmp_path: Path) -> None:
    out = tmp_path / "run"
    first = runboard(
        "train", "--preset", "2", "--epochs", "1", *TINY, "--out", str(out), cwd=tmp_path
    )
    assert first.returncode == 0, first.stderr
    second = runboard(
        "train", "--preset", "2", "--epochs", "2", *TINY, "--out", str(out), cwd=tmp_path
    )
    assert second.returncode == 0, second.stderr
    assert "resuming from the checkpoint after epoch 1" in second.stdout
    epoch_lines = [line for line in second.stdout.splitlines() if line.startswith("[")]
    assert len(epoch_lines) == 1 and epoch_lines[0].startswith("[2, ")
    result = json.loads((out / "result.json").read_text())
    assert [h["epoch"] for h in result["history"]] == [1.0, 2.0]
    assert result["resumed_from_epoch"] == 1


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--preset", "9"], "unknown preset '9'"),
        (["--preset", "2", "--set", "lr=-1"], "lr: Input should be greater than 0"),
        (["--preset", "2", "--set", "widths=1/2"], "widths: needs exactly 4 conv widths"),
        (["--preset", "2", "--set", "batch_size=0"], "batch_size:"),
        (["--preset", "2", "--set", "augmentations=rotate"], "augmentations.0:"),
        (["--preset", "1", "--set", "image_size=224"], "image_size: the MLP takes"),
        (["--preset", "2", "--set", "colour=red"], "colour: unknown field"),
        (["--preset", "2", "--set", "lr"], "expected key=value"),
        (["--preset", "2", "--epochs", "x"], "invalid int value"),
        (["--preset", "2", "--dataset", "mnist"], "invalid choice"),
        ([], "required"),
    ],
)
def test_bad_arguments_get_one_readable_line_and_exit_2(
    tmp_path: Path, args: list[str], field: str
) -> None:
    done = runboard("train", *args, cwd=tmp_path)
    assert done.returncode == 2
    assert field in done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert not (tmp_path / "var").exists()  # refused before any work


def test_missing_cifar_names_the_folder_the_file_to_put_there_and_the_offline_set(
    tmp_path: Path,
) -> None:
    data = tmp_path / "cifar"
    done = runboard("train", "--preset", "2", cwd=tmp_path, env={"RUNBOARD_DATA_DIR": str(data)})
    assert done.returncode == 1
    assert str(data.resolve()) in done.stderr and "cifar-100-python.tar.gz" in done.stderr
    assert "Launch on the data set `synthetic` instead" in done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_asking_for_a_gpu_this_machine_lacks_is_one_line(tmp_path: Path) -> None:
    done = runboard("train", "--preset", "2", *TINY, "--set", "device=cuda:99", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.startswith("runboard: error: device: cuda:99")
    assert "Traceback" not in done.stderr
