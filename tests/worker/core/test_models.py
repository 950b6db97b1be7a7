"""The homework's networks: shapes, exact parameter counts, the template's geometry."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from worker.core.models import (
    CNN,
    MLP,
    MissingWeightsError,
    build_model,
    model_parameter_count,
)
from worker.schema.presets import all_presets, get_preset
from worker.schema.runconfig import RunConfig, parameter_count

KNOWN_COUNTS = {"1": 29_778_020, "2": 4_647_524, "6": 11_227_812}


def conv(c_in: int, c_out: int, kernel: int) -> int:
    return c_in * c_out * kernel * kernel + c_out


def linear(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out


def batch_norm(channels: int) -> int:
    return 2 * channels


def cnn_count(config: RunConfig) -> int:
    """The template CNN's parameters at 32px, counted by hand from its layers."""
    w1, w2, w3, w4 = config.widths
    total = conv(3, w1, 5) + conv(w1, w2, 3) + conv(w2, w3, 3) + conv(w3, w4, 3)
    if config.batch_norm:
        total += sum(batch_norm(width) for width in config.widths)
    flat = w4 * 4 * 4  # 32 -> 14 -> 12 -> 10 -> 8 -> pool 4
    return total + linear(flat, config.fc_width) + linear(config.fc_width, 100)


def offline_config(preset_id: str) -> RunConfig:
    return get_preset(preset_id).config.with_overrides({"pretrained": False})


@pytest.mark.parametrize("preset_id", list(all_presets()))
def test_every_preset_builds_a_model_with_100_outputs_and_the_expected_size(
    preset_id: str,
) -> None:
    config = offline_config(preset_id)
    torch.manual_seed(0)
    model = build_model(config).eval()
    batch = 2
    with torch.no_grad():
        out = model(torch.randn(batch, 3, config.image_size, config.image_size))
    assert out.shape == (batch, 100)
    assert torch.isfinite(out).all()
    built = model_parameter_count(model)
    assert parameter_count(get_preset(preset_id).config) == built
    if preset_id in KNOWN_COUNTS:
        assert built == KNOWN_COUNTS[preset_id]
    elif config.architecture == "cnn":
        assert built == cnn_count(config)
    else:
        pytest.fail(f"preset {preset_id} has no expected count")


def test_mlp_is_3072_to_4096_to_4096_to_100() -> None:
    model = build_model(get_preset("1").config.with_overrides({"fc_width": 16}))
    assert isinstance(model, MLP)
    assert (model.fc1.in_features, model.fc1.out_features) == (3072, 16)
    assert (model.fc2.in_features, model.fc2.out_features) == (16, 16)
    assert (model.fc3.in_features, model.fc3.out_features) == (16, 100)
    assert model_parameter_count(model) == linear(3072, 16) + linear(16, 16) + linear(16, 100)


def test_mlp_uses_sigmoid_hidden_activations() -> None:
    torch.manual_seed(1)
    model = build_model(get_preset("1").config.with_overrides({"fc_width": 32})).eval()
    assert isinstance(model, MLP)
    hidden: list[torch.Tensor] = []
    model.fc3.register_forward_pre_hook(lambda _module, args: hidden.append(args[0]))
    x = torch.randn(4, 3, 32, 32) * 3
    with torch.no_grad():
        out = model(x)
        h1 = torch.sigmoid(model.fc1(x.flatten(1)))
        h2 = torch.sigmoid(model.fc2(h1))
        expected = model.fc3(h2)
    assert ((hidden[0] > 0) & (hidden[0] < 1)).all()
    torch.testing.assert_close(hidden[0], h2)
    torch.testing.assert_close(out, expected)


def test_cnn_spatial_sizes_follow_the_template() -> None:
    config = RunConfig(widths=(4, 5, 6, 7), fc_width=16)
    model = build_model(config)
    assert isinstance(model, CNN)
    shapes: dict[str, tuple[int, ...]] = {}
    for name in ("conv1", "conv2", "conv3", "conv_final", "pool"):
        module = getattr(model, name)
        module.register_forward_hook(
            lambda _m, _i, out, name=name: shapes.__setitem__(name, tuple(out.shape))
        )
    model(torch.randn(2, 3, 32, 32))
    assert shapes == {
        "conv1": (2, 4, 14, 14),
        "conv2": (2, 5, 12, 12),
        "conv3": (2, 6, 10, 10),
        "conv_final": (2, 7, 8, 8),
        "pool": (2, 7, 4, 4),
    }
    assert model.fc1.in_features == 7 * 16
    assert model.conv1.kernel_size == (5, 5) and model.conv1.stride == (2, 2)
    assert model.conv1.padding == (0, 0) and model.conv2.kernel_size == (3, 3)


def test_cnn_flatten_size_follows_a_larger_image_size() -> None:
    # 48 -> 22 -> 20 -> 18 -> 16 -> pool 8
    model = build_model(RunConfig(widths=(4, 4, 4, 8), fc_width=16, image_size=48))
    assert isinstance(model, CNN)
    assert model.fc1.in_features == 8 * 8 * 8
    assert model(torch.randn(2, 3, 48, 48)).shape == (2, 100)


def test_batch_norm_layers_exist_only_when_asked_for() -> None:
    with_bn = build_model(RunConfig(widths=(4, 5, 6, 7), fc_width=16, batch_norm=True))
    without = build_model(RunConfig(widths=(4, 5, 6, 7), fc_width=16))
    for name, width in zip(("bn1", "bn2", "bn3", "bn_final"), (4, 5, 6, 7), strict=True):
        layer = getattr(with_bn, name)
        assert isinstance(layer, nn.BatchNorm2d)
        assert layer.num_features == width
        assert isinstance(getattr(without, name), nn.Identity)
    assert model_parameter_count(with_bn) - model_parameter_count(without) == 2 * (4 + 5 + 6 + 7)


def test_batch_norm_is_applied_after_the_activation() -> None:
    torch.manual_seed(2)
    model = build_model(RunConfig(widths=(4, 5, 6, 7), fc_width=16, batch_norm=True))
    assert isinstance(model, CNN)
    for bn in (model.bn1, model.bn2, model.bn3, model.bn_final):
        assert isinstance(bn, nn.BatchNorm2d)
        with torch.no_grad():  # non-trivial statistics so that the order shows
            bn.running_mean.uniform_(-1, 1)
            bn.running_var.uniform_(0.5, 2)
            bn.weight.uniform_(-2, 2)
            bn.bias.uniform_(-1, 1)
    model.eval()
    x = torch.randn(3, 3, 32, 32)

    def forward(bn_after_relu: bool) -> torch.Tensor:
        def block(y: torch.Tensor, bn: nn.Module) -> torch.Tensor:
            return bn(F.relu(y)) if bn_after_relu else F.relu(bn(y))

        y = block(model.conv1(x), model.bn1)
        y = block(model.conv2(y), model.bn2)
        y = block(model.conv3(y), model.bn3)
        y = block(model.pool(model.conv_final(y)), model.bn_final)
        return model.fc2(F.relu(model.fc1(y.flatten(1))))

    with torch.no_grad():
        out = model(x)
        torch.testing.assert_close(out, forward(bn_after_relu=True))
        assert not torch.allclose(out, forward(bn_after_relu=False), atol=1e-3)


def test_dropout_acts_on_fc1_output_in_training_only() -> None:
    torch.manual_seed(3)
    model = build_model(RunConfig(widths=(4, 4, 4, 8), fc_width=256, dropout=0.5))
    assert isinstance(model, CNN)
    assert isinstance(model.drop, nn.Dropout) and model.drop.p == 0.5
    fc1_out: list[torch.Tensor] = []
    fc2_in: list[torch.Tensor] = []
    model.fc1.register_forward_hook(lambda _m, _i, out: fc1_out.append(out.detach()))
    model.fc2.register_forward_pre_hook(lambda _m, args: fc2_in.append(args[0].detach()))
    x = torch.randn(8, 3, 32, 32)

    model.train()
    model(x)
    activated = F.relu(fc1_out[-1])
    kept = fc2_in[-1] != 0
    alive = activated != 0
    torch.testing.assert_close(fc2_in[-1][kept], 2 * activated[kept])  # scaled by 1 / (1 - p)
    dropped = (alive & ~kept).sum() / alive.sum()
    assert 0.35 < float(dropped) < 0.65

    model.eval()
    first, second = model(x), model(x)
    torch.testing.assert_close(fc2_in[-1], F.relu(fc1_out[-1]))
    assert torch.equal(first, second)


def test_no_dropout_layer_drops_anything_when_dropout_is_zero() -> None:
    model = build_model(RunConfig(widths=(4, 4, 4, 8), fc_width=32)).train()
    x = torch.randn(4, 3, 32, 32)
    assert torch.equal(model(x), model(x))


def test_resnet18_head_is_replaced_by_512_to_100() -> None:
    model = build_model(RunConfig(architecture="resnet18"))
    assert isinstance(model.fc, nn.Linear)
    assert (model.fc.in_features, model.fc.out_features) == (512, 100)
    with_dropout = build_model(RunConfig(architecture="resnet18", dropout=0.3))
    assert isinstance(with_dropout.fc, nn.Sequential)
    assert isinstance(with_dropout.fc[0], nn.Dropout) and with_dropout.fc[0].p == 0.3
    assert model_parameter_count(with_dropout) == 11_227_812


def test_parameter_count_allocates_nothing_and_ignores_pretrained() -> None:
    config = get_preset("3c").config
    assert parameter_count(config) == cnn_count(config) == 77_000_804
    assert parameter_count(get_preset("6").config) == 11_227_812  # no weights needed


@pytest.fixture
def torch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    # torch.hub reads TORCH_HOME at call time, so the weights are looked for here.
    assert Path(torch.hub.get_dir()) == tmp_path / "hub"
    yield tmp_path


def resnet18_weights_file(torch_home: Path) -> Path:
    from torchvision.models import ResNet18_Weights

    name = os.path.basename(ResNet18_Weights.IMAGENET1K_V1.url)
    return torch_home / "hub" / "checkpoints" / name


def test_pretrained_resnet_loads_cached_weights_without_network(torch_home: Path) -> None:
    from torchvision.models import resnet18

    torch.manual_seed(4)
    source = resnet18(weights=None)
    with torch.no_grad():
        source.conv1.weight.normal_(generator=torch.Generator().manual_seed(5))
        source.bn1.running_mean.uniform_(-1, 1)
    path = resnet18_weights_file(torch_home)
    path.parent.mkdir(parents=True)
    torch.save(source.state_dict(), path)

    model = build_model(get_preset("6").config)

    assert torch.equal(model.conv1.weight, source.conv1.weight)
    assert torch.equal(model.bn1.running_mean, source.bn1.running_mean)
    assert torch.equal(model.layer4[1].conv2.weight, source.layer4[1].conv2.weight)
    assert isinstance(model.fc, nn.Linear)
    assert (model.fc.in_features, model.fc.out_features) == (512, 100)


@pytest.mark.timeout(120)
def test_missing_pretrained_weights_name_the_file_and_directory(torch_home: Path) -> None:
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(10)  # no network here: fail fast rather than hang
    try:
        with pytest.raises(MissingWeightsError) as caught:
            build_model(get_preset("6").config)
    finally:
        socket.setdefaulttimeout(previous)
    path = resnet18_weights_file(torch_home)
    message = str(caught.value)
    assert path.name in message
    assert str(path.parent) in message
    assert "pretrained=false" in message
    assert not path.exists()  # nothing half-written that a later run would load


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"architecture": "mlp", "fc_width": 1000},
        {"widths": (8, 16, 24, 40), "fc_width": 77, "image_size": 64},
        {"widths": (3, 5, 7, 9), "image_size": 224},
        {"widths": (3, 5, 7, 9), "fc_width": 33, "image_size": 40, "batch_norm": True},
        {"architecture": "resnet18"},
        {"architecture": "resnet18", "pretrained": True, "dropout": 0.3},
    ],
)
def test_the_schemas_torch_free_parameter_count_is_what_the_worker_builds(
    changes: dict[str, object],
) -> None:
    """The config schema refuses networks over MAX_PARAMETERS by this count."""
    from worker.schema.geometry import RESNET18_PARAMETERS, cnn_parameters, mlp_parameters

    config = RunConfig.model_validate(changes)
    estimate = {
        "mlp": lambda: mlp_parameters(config.fc_width),
        "cnn": lambda: cnn_parameters(
            config.widths, config.fc_width, config.image_size, config.batch_norm
        ),
        "resnet18": lambda: RESNET18_PARAMETERS,
    }[config.architecture]()
    assert estimate == parameter_count(config)
    with torch.device("meta"):  # no memory, no weights to download
        model = build_model(config.model_copy(update={"pretrained": False}))
    assert model_parameter_count(model) == parameter_count(config)
