"""The networks' torch-free geometry: the sides the template CNN's layers produce."""

from __future__ import annotations

import subprocess
import sys

from worker.schema.geometry import CNN_WIDTH_COUNT, MLP_INPUTS, cnn_conv_sides, cnn_flat_side


def test_the_template_cnn_shrinks_32_pixels_to_4_and_48_to_8() -> None:
    assert cnn_conv_sides(32) == [14, 12, 10, 8]
    assert cnn_flat_side(32) == 4
    assert cnn_conv_sides(48) == [22, 20, 18, 16]
    assert cnn_flat_side(48) == 8
    assert (CNN_WIDTH_COUNT, MLP_INPUTS) == (4, 3072)


def test_the_schema_and_the_presets_command_import_no_torch() -> None:
    script = (
        "import sys, worker.schema.runconfig, worker.schema.presets, runboard.cli.presets\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in {'torch', 'torchvision'})\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
