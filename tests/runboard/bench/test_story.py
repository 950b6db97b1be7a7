"""`runboard bench story`: its checks of the homework's orderings, and the cheapest of them
(the MLP below the CNN) trained for real on a small subset of the hard synthetic set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runboard.bench.story import Outcome, check_story, merged_outcomes, story_table, train_point
from worker.schema.errors import InvalidInputError


def outcome(preset: str, test: list[float], train: list[float], loss: list[float]) -> Outcome:
    return Outcome(preset, train_loss=loss, train_acc=train, test_acc=test, seconds=1.0)


# Curves shaped like the report's: 3a overfits, 4a is faster and higher, 5a/5b generalise.
STORY = {
    "1": outcome("1", [0.05, 0.08, 0.10, 0.12], [0.04, 0.08, 0.11, 0.13], [4.5, 4.0, 3.8, 3.6]),
    "2": outcome("2", [0.08, 0.15, 0.20, 0.24], [0.07, 0.16, 0.22, 0.28], [4.4, 3.6, 3.2, 2.9]),
    "3a": outcome("3a", [0.15, 0.25, 0.27, 0.27], [0.2, 0.5, 0.75, 0.9], [3.5, 2.0, 1.0, 0.5]),
    "4a": outcome("4a", [0.25, 0.31, 0.32, 0.33], [0.4, 0.7, 0.9, 0.97], [2.5, 1.0, 0.4, 0.1]),
    "5a": outcome("5a", [0.14, 0.25, 0.29, 0.31], [0.15, 0.4, 0.55, 0.65], [3.6, 2.4, 1.7, 1.2]),
    "5b": outcome("5b", [0.13, 0.24, 0.3, 0.32], [0.12, 0.35, 0.5, 0.6], [3.7, 2.6, 1.9, 1.4]),
}


def test_every_ordering_holds_for_curves_shaped_like_the_reports() -> None:
    checks = check_story(STORY)
    assert [check.holds for check in checks] == [True] * 6, checks
    names = [check.name for check in checks]
    assert names[0] == "MLP (1) clearly below CNN (2)"
    assert any(name.startswith("BatchNorm (4a)") for name in names)
    table = story_table(STORY)
    assert table[0].split()[:4] == ["point", "train", "acc", "test"]
    assert table[3].split()[:4] == ["3a", "90.0%", "27.0%", "63.0%"]  # train, test, gap


def test_each_broken_ordering_is_named_and_missing_points_are_not_checked() -> None:
    broken = dict(STORY)
    broken["1"] = outcome("1", [0.2, 0.23, 0.25, 0.26], [0.2, 0.3, 0.3, 0.3], [4, 3, 3, 3])
    broken["5a"] = outcome("5a", [0.1, 0.2, 0.22, 0.2], [0.3, 0.7, 0.9, 0.99], [3, 2, 1, 0.1])
    failing = [check.name for check in check_story(broken) if not check.holds]
    assert failing == [
        "MLP (1) clearly below CNN (2)",
        "flips (5a) narrow the gap and end higher than 3a",
    ]
    only_wide = check_story({"3a": STORY["3a"]})
    assert [check.name for check in only_wide] == [
        "3a fits train far better than test, test stalls",
        "no point near chance (<5%) or 100% (>90%)",
    ]


@pytest.mark.slow
def test_on_the_hard_synthetic_set_the_mlp_ends_clearly_below_the_cnn() -> None:
    # 2,000 images (20 a class), batch 64 for both: 128 steps each, the MLP about 20 s.
    small = {"device": "cpu", "train_subset": 2000, "test_subset": 500, "batch_size": 64,
             "epochs": 4}  # fmt: skip
    mlp, cnn = train_point("1", small), train_point("2", small)
    checks = check_story({"1": mlp, "2": cnn})
    assert checks[0].name == "MLP (1) clearly below CNN (2)"
    assert checks[0].holds, checks[0].detail
    assert cnn.final_test < 0.9  # hard: nowhere near the easy set's 99%


def test_merge_adds_an_earlier_runs_points_only_if_trained_alike(tmp_path: Path) -> None:
    earlier = tmp_path / "story.json"
    point = STORY["2"]
    row = {"train_loss": point.train_loss, "train_acc": point.train_acc,
           "test_acc": point.test_acc, "gap": point.gap, "seconds": 1.0}  # fmt: skip
    earlier.write_text(
        json.dumps({"settings": {"presets": ["2"], "epochs": 4}, "points": {"2": row}})
    )
    assert merged_outcomes([str(earlier)], {"epochs": 4}) == {"2": point}
    with pytest.raises(InvalidInputError, match="trained with"):
        merged_outcomes([str(earlier)], {"epochs": 10})
