"""`pixelshuffle convert`: checkpoints (.pt, nested dicts, .safetensors) ported between
conventions load into the destination model and give the same outputs; nothing is
written when anything is wrong, and nothing is overwritten unless asked."""

from __future__ import annotations

import json
import os

import pytest

import pixelshuffle as ps
from pixelshuffle._cli import main

from .conftest import require

torch = require("torch")
nn = torch.nn

pytestmark = pytest.mark.frameworks


def _tf_model():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 2 * 9, 3, padding=1),
        nn.BatchNorm2d(18),
        ps.nn.PixelShuffle(3, convention="tf"),
        nn.Conv2d(2, 3 * 4, 3, padding=1),
        ps.nn.PixelUnshuffle(2, convention="tf"),
        nn.Conv2d(3 * 4 * 4, 5, 1),
    ).double()
    with torch.no_grad():
        model[1].running_mean.normal_()
        model[1].running_var.uniform_(0.5, 2.0)
        model[1].weight.normal_()
        model[1].bias.normal_()
    return model.eval()


def _torch_model():
    return (
        nn.Sequential(
            nn.Conv2d(3, 2 * 9, 3, padding=1),
            nn.BatchNorm2d(18),
            nn.PixelShuffle(3),
            nn.Conv2d(2, 3 * 4, 3, padding=1),
            nn.PixelUnshuffle(2),
            nn.Conv2d(3 * 4 * 4, 5, 1),
        )
        .double()
        .eval()
    )


LAYER_ARGS = ["--outputs", "0", "--channels", "1", "--inputs", "5"]


def _check_ported(path, model, key=None):
    state = torch.load(path, weights_only=True)
    ported = _torch_model()
    ported.load_state_dict(state[key] if key else state)
    x = torch.randn(2, 3, 4, 6, dtype=torch.float64)
    torch.testing.assert_close(ported(x), model(x), rtol=1e-12, atol=1e-12)


def test_port_a_state_dict_on_the_command_line(tmp_path, capsys):
    model = _tf_model()
    source, target = tmp_path / "tf.pt", tmp_path / "torch.pt"
    torch.save(model.state_dict(), source)
    before = source.read_bytes()
    args = [str(source), str(target), "--src", "tf", "--dst", "torch", "--factor", "3"]
    # the shuffle and the unshuffle have different factors: two runs, or one spec file
    assert main(["convert", *args, "--outputs", "0", "--channels", "1"]) == 0
    middle = tmp_path / "middle.pt"
    os.replace(target, middle)
    assert main(
        ["convert", str(middle), str(target), "--src", "tf", "--dst", "torch", "--factor", "2",
         "--inputs", "5"]
    ) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "0.weight (18, 3, 3, 3): axis 0 from 'tf' to 'torch' order (factor 3)" in printed
    assert "5.weight (5, 48, 1, 1): axis 1 from 'tf' to 'torch' order (factor 2)" in printed
    assert source.read_bytes() == before  # the input is never touched
    _check_ported(target, model)


def test_spec_file_and_nested_checkpoint(tmp_path):
    model = _tf_model()
    source, target = tmp_path / "tf.pth", tmp_path / "torch.pth"
    torch.save({"epoch": 3, "state_dict": model.state_dict()}, source)
    spec = tmp_path / "spec.json"
    spec.write_text(
        json.dumps(
            {
                "src": "tf",
                "dst": "torch",
                "factor": 3,
                "layers": {"0": "outputs", "1": "channels", "5": {"role": "inputs", "factor": 2}},
            }
        )
    )
    assert main(["convert", str(source), str(target), "--spec", str(spec)]) == 0
    checkpoint = torch.load(target, weights_only=True)
    assert checkpoint["epoch"] == 3
    _check_ported(target, model, key="state_dict")


def test_safetensors(tmp_path):
    safetensors_torch = require("safetensors.torch")
    model = _tf_model()
    source, target = tmp_path / "tf.safetensors", tmp_path / "torch.safetensors"
    safetensors_torch.save_file(model.state_dict(), source)
    layers = [
        ps._checkpoint.LayerSpec("0", "outputs", 3, "tf", "torch"),
        ps._checkpoint.LayerSpec("1", "channels", 3, "tf", "torch"),
        ps._checkpoint.LayerSpec("5", "inputs", 2, "tf", "torch"),
    ]
    ps.convert_checkpoint(source, target, layers)
    ported = _torch_model()
    ported.load_state_dict(safetensors_torch.load_file(target))
    x = torch.randn(1, 3, 4, 6, dtype=torch.float64)
    torch.testing.assert_close(ported(x), model(x), rtol=1e-12, atol=1e-12)


def test_conv_transpose_and_linear_roles(tmp_path):
    torch.manual_seed(1)
    model = nn.Sequential(
        nn.ConvTranspose2d(3, 12, 3, padding=1), ps.nn.PixelShuffle(2, convention="caffe")
    )
    source, target = tmp_path / "a.pt", tmp_path / "b.pt"
    torch.save(model.state_dict(), source)
    layers = [ps._checkpoint.LayerSpec("0", "outputs-transposed", 2, "caffe", "tf")]
    ps.convert_checkpoint(source, target, layers)
    ported = nn.Sequential(
        nn.ConvTranspose2d(3, 12, 3, padding=1), ps.nn.PixelShuffle(2, convention="tf")
    )
    ported.load_state_dict(torch.load(target, weights_only=True))
    x = torch.randn(1, 3, 3, 4)
    assert torch.equal(ported(x), model(x))

    linear = nn.Linear(6, 12 * 2 * 3)
    torch.save({"fc.weight": linear.weight.detach(), "fc.bias": linear.bias.detach()}, source)
    spec = [ps._checkpoint.LayerSpec("fc", "outputs", 2, "tf", "torch", features_shape=(12, 2, 3))]
    ps.convert_checkpoint(source, target, spec, overwrite=True)
    state = torch.load(target, weights_only=True)
    z = torch.randn(2, 6)
    expected = ps.pixel_shuffle(linear(z).reshape(2, 12, 2, 3), 2, convention="tf")
    result = (z @ state["fc.weight"].T + state["fc.bias"]).reshape(2, 12, 2, 3)
    torch.testing.assert_close(ps.pixel_shuffle(result, 2), expected)


ERRORS = [
    (["--outputs", "head"], r"the checkpoint has no tensors under 'head'; layers it has include"),
    (
        ["--outputs", "3"],
        r"layer '3' \(12 channels\): channels must be divisible by 3·3 = 9, got 12",
    ),
    (["--outputs", "0", "--src", "xyz"], r"unknown convention 'xyz'"),
    ([], r"name at least one layer to port"),
]


@pytest.mark.parametrize(("extra", "message"), ERRORS)
def test_errors_write_nothing(tmp_path, capsys, extra, message):
    source, target = tmp_path / "tf.pt", tmp_path / "out.pt"
    torch.save(_tf_model().state_dict(), source)
    args = ["convert", str(source), str(target), "--src", "tf", "--dst", "torch", "--factor", "3"]
    assert main([*args, *extra]) == 2
    assert "pixelshuffle convert: error: " in capsys.readouterr().err

    def convert():
        layers = ps._checkpoint.layers_from_arguments(_namespace(extra))
        ps.convert_checkpoint(source, target, layers)

    with pytest.raises(ps.PixelShuffleError, match=message):
        convert()
    assert sorted(os.listdir(tmp_path)) == ["tf.pt"]  # no output, no temporary file


def _namespace(extra):
    import argparse

    parser = argparse.ArgumentParser()
    ps._checkpoint.add_arguments(parser)
    return parser.parse_args(
        ["in", "out", "--src", "tf", "--dst", "torch", "--factor", "3", *extra]
    )


def test_existing_output_and_input_are_not_overwritten_unless_asked(tmp_path, capsys):
    source, target = tmp_path / "tf.pt", tmp_path / "out.pt"
    torch.save(_tf_model().state_dict(), source)
    target.write_bytes(b"keep me")
    args = ["--src", "tf", "--dst", "torch", "--factor", "3", "--outputs", "0"]
    assert main(["convert", str(source), str(target), *args]) == 2
    assert "out.pt exists; pass --overwrite to replace it" in capsys.readouterr().err
    assert target.read_bytes() == b"keep me"
    assert main(["convert", str(source), str(source), *args]) == 2
    assert "tf.pt is the input; pass --overwrite" in capsys.readouterr().err
    assert main(["convert", str(source), str(target), *args, "--overwrite"]) == 0
    assert target.read_bytes() != b"keep me"


def test_refuses_files_that_are_not_tensor_checkpoints(tmp_path, capsys):
    pickled = tmp_path / "object.pt"
    torch.save({"model": nn.Linear(2, 2)}, pickled)  # a pickled module, not weights
    assert main(["convert", str(pickled), str(tmp_path / "o.pt"), "--src", "tf", "--dst",
                 "torch", "--factor", "2", "--outputs", "0"]) == 2  # fmt: skip
    assert "cannot read" in capsys.readouterr().err


def test_bad_factor_in_a_spec_file_is_a_library_error(tmp_path, capsys):
    source = tmp_path / "tf.pt"
    torch.save(_tf_model().state_dict(), source)
    spec = tmp_path / "spec.json"
    spec.write_text(
        json.dumps(
            {"src": "tf", "dst": "torch", "layers": {"0": {"role": "outputs", "factor": "three"}}}
        )
    )
    assert main(["convert", str(source), str(tmp_path / "out.pt"), "--spec", str(spec)]) == 2
    assert (
        "convert: layer '0': expected an int or one int per spatial axis such as 2,3,"
        " got 'three'" in capsys.readouterr().err
    )
    assert sorted(os.listdir(tmp_path)) == ["spec.json", "tf.pt"]
