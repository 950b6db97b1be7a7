"""`runboard presets`: the homework points with their configs and parameter counts."""

from __future__ import annotations

import json

from worker.schema.cifar_meta import NUM_CLASSES
from worker.schema.geometry import MLP_INPUTS
from worker.schema.presets import Preset, all_presets
from worker.schema.runconfig import parameter_count


def _summary(preset: Preset) -> str:
    config = preset.config
    if config.architecture == "mlp":
        hidden = f"{config.fc_width}-{config.fc_width}"
        shape = f"MLP {MLP_INPUTS}-{hidden}-{NUM_CLASSES} {config.activation}"
    elif config.architecture == "cnn":
        shape = f"CNN {'/'.join(map(str, config.widths))} fc {config.fc_width}"
        shape += " +BN" if config.batch_norm else ""
        shape += f" +drop {config.dropout:g}" if config.dropout else ""
    else:
        shape = "ResNet-18" + (" ImageNet" if config.pretrained else "")
    if config.augmentations:
        shape += " +" + "+".join(config.augmentations)
    return shape


def show_presets(as_json: bool = False) -> int:
    presets = all_presets().values()
    if as_json:
        rows = [{**p.to_dict(), "parameters": parameter_count(p.config)} for p in presets]
        print(json.dumps(rows, indent=2))
        return 0
    header = f"{'id':<5} {'title':<34} {'network':<44} {'params':>11} {'batch':>5} "
    header += f"{'epochs':>6} {'lr':>7} {'report':>6}"
    print(header)
    print("-" * len(header))
    for preset in presets:
        config = preset.config
        final = preset.reference.final_accuracy
        report = f"{final:g}%" if final is not None else "-"
        print(
            f"{preset.id:<5} {preset.title[:34]:<34} {_summary(preset)[:44]:<44} "
            f"{parameter_count(config):>11,} {config.batch_size:>5} {config.epochs:>6} "
            f"{config.lr:>7g} {report:>6}"
        )
    print("\n`runboard train --preset ID --dataset synthetic` trains one here; see --help.")
    return 0
