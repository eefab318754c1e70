"""Export a PyTorch super-resolution block to ONNX with DCR-only ``DepthToSpace`` nodes.

PyTorch's ``nn.PixelShuffle`` exports as ``DepthToSpace(mode="CRD")``. Runtimes and
converters that implement only the ONNX default, DCR (TensorFlow's order, also TFLite,
many NPUs), need the other order. ``pixelshuffle.convert_model`` switches every shuffle
to ``tf`` order and permutes the convolutions that feed them, so the exported graph has
only ``DepthToSpace(mode="DCR")`` nodes and computes the same image.

Run: python examples/onnx_dcr_export.py
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import onnx
import onnxruntime
import torch

import pixelshuffle as ps


def upsampler() -> torch.nn.Sequential:
    """An EDSR-style ×4 tail: two (Conv → PixelShuffle(2)) stages, then a Conv."""
    torch.manual_seed(0)
    features = 16
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, features, 3, padding=1),
        torch.nn.Conv2d(features, features * 4, 3, padding=1),
        torch.nn.PixelShuffle(2),
        torch.nn.ReLU(),
        torch.nn.Conv2d(features, features * 4, 3, padding=1),
        torch.nn.PixelShuffle(2),
        torch.nn.Conv2d(features, 3, 3, padding=1),
    ).eval()


def export(model: torch.nn.Module, x: torch.Tensor) -> onnx.ModelProto:
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)  # keep the output readable
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.onnx.export(model, (x,), dynamo=True, verbose=False).model_proto


def depth_to_space_modes(model: onnx.ModelProto) -> list[str]:
    return [
        onnx.helper.get_attribute_value(attribute).decode()
        for node in model.graph.node
        if node.op_type == "DepthToSpace"
        for attribute in node.attribute
        if attribute.name == "mode"
    ]


def main() -> float:
    model = upsampler()
    x = torch.rand(1, 3, 20, 28)
    with torch.no_grad():
        expected = model(x).numpy()
    print("PyTorch's own PixelShuffle exports as modes", depth_to_space_modes(export(model, x)))

    dcr = ps.convert_model(model, "tf")
    onnx_model = export(dcr, x)
    modes = depth_to_space_modes(onnx_model)
    print("after convert_model(model, 'tf'):       modes", modes)
    assert modes == ["DCR", "DCR"]

    session = onnxruntime.InferenceSession(
        onnx_model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    (result,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    difference = float(np.abs(result - expected).max())
    print(f"onnxruntime runs the DCR graph, output {result.shape}; compared with PyTorch:")
    print(f"max abs difference: {difference:.3g}")
    return difference


if __name__ == "__main__":
    assert main() < 1e-5
