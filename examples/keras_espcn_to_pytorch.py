"""Port a Keras/TensorFlow ESPCN (Conv → Conv → Conv → depth_to_space) to PyTorch's
native ``nn.PixelShuffle``.

TensorFlow's ``depth_to_space`` reads the depth channels block-major (``tf`` order);
PyTorch's ``PixelShuffle`` reads them channel-major (``torch`` order). Copying the
weights is not enough: the last convolution's output channels must also be permuted,
once, with ``pixelshuffle.permute_channels``. Then the native PyTorch model computes
exactly what the Keras model computes.

Run: python examples/keras_espcn_to_pytorch.py
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import tensorflow as tf
import torch

import pixelshuffle as ps

SCALE = 3
COLORS = 3


def keras_espcn() -> keras.Model:
    """ESPCN (Shi et al. 2016) as TensorFlow users write it, with random weights."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((None, None, COLORS))
    x = keras.layers.Conv2D(64, 5, padding="same", activation="tanh")(inputs)
    x = keras.layers.Conv2D(32, 3, padding="same", activation="tanh")(x)
    x = keras.layers.Conv2D(COLORS * SCALE**2, 3, padding="same")(x)
    outputs = keras.layers.Lambda(lambda depth: tf.nn.depth_to_space(depth, SCALE))(x)
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if getattr(layer, "bias", None) is not None:  # Keras starts biases at zero
            layer.bias.assign(rng.normal(0, 0.1, layer.bias.shape).astype("float32"))
    return model


def torch_espcn() -> torch.nn.Sequential:
    return torch.nn.Sequential(
        torch.nn.Conv2d(COLORS, 64, 5, padding=2),
        torch.nn.Tanh(),
        torch.nn.Conv2d(64, 32, 3, padding=1),
        torch.nn.Tanh(),
        torch.nn.Conv2d(32, COLORS * SCALE**2, 3, padding=1),
        torch.nn.PixelShuffle(SCALE),  # PyTorch's own, in torch order
    )


def port(source: keras.Model, *, permute: bool = True) -> torch.nn.Sequential:
    """Copy the Keras weights into the PyTorch model; permute the last layer's outputs."""
    target = torch_espcn()
    keras_convs = [layer for layer in source.layers if isinstance(layer, keras.layers.Conv2D)]
    torch_convs = [layer for layer in target if isinstance(layer, torch.nn.Conv2d)]
    for k, (keras_conv, torch_conv) in enumerate(zip(keras_convs, torch_convs)):
        kernel, bias = (np.asarray(w) for w in keras_conv.get_weights())  # HWIO, (out,)
        if permute and k == len(keras_convs) - 1:  # the layer that feeds depth_to_space
            kernel = ps.permute_channels(kernel, SCALE, src="tf", dst="torch", axis=-1)
            bias = ps.permute_channels(bias, SCALE, src="tf", dst="torch")
        with torch.no_grad():
            torch_conv.weight.copy_(torch.from_numpy(kernel.transpose(3, 2, 0, 1)))  # OIHW
            torch_conv.bias.copy_(torch.from_numpy(bias))
    return target.eval()


def sample_image(height: int = 24, width: int = 32) -> np.ndarray:
    """A smooth colour image with some detail, (1, H, W, 3) in [0, 1]."""
    y, x = np.mgrid[0:height, 0:width] / np.array([height, width])[:, None, None]
    image = np.stack([x, y, 0.5 + 0.5 * np.sin(6 * x + 4 * y)], axis=-1)
    return image[None].astype(np.float32)


def main() -> float:
    keras_model = keras_espcn()
    image = sample_image()
    expected = np.asarray(keras_model(image))  # (1, 3H, 3W, 3)

    with torch.no_grad():
        nchw = torch.from_numpy(image).permute(0, 3, 1, 2)
        ported = port(keras_model)(nchw).permute(0, 2, 3, 1).numpy()
        naive = port(keras_model, permute=False)(nchw).permute(0, 2, 3, 1).numpy()

    difference = float(np.abs(ported - expected).max())
    print(f"Keras ESPCN ×{SCALE} output {expected.shape}, ported to torch.nn.PixelShuffle")
    unported = float(np.abs(naive - expected).max())
    print(f"max abs difference, weights copied without the permutation: {unported:.3g}")
    print(f"max abs difference: {difference:.3g}")
    return difference


if __name__ == "__main__":
    assert main() < 1e-5
