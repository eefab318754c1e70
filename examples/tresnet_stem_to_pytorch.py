"""Replace timm's TResNet space-to-depth stem (TensorFlow order) with PyTorch's native
``nn.PixelUnshuffle`` and a ported first convolution.

TResNet (Ridnik et al. 2021) starts with a space-to-depth of block 4 followed by a 3×3
convolution. timm writes it as ``view → permute(0, 3, 5, 1, 2, 4) → reshape``, which puts
the block offsets before the colour channel: TensorFlow's ``space_to_depth`` order, not
PyTorch's ``pixel_unshuffle`` order. Swapping in ``nn.PixelUnshuffle`` silently scrambles
the 48 channels the first convolution reads, unless its input channels are permuted
once with ``pixelshuffle.nn.permute_inputs_`` (or the whole model is converted with
``pixelshuffle.convert_model``).

Run: python examples/tresnet_stem_to_pytorch.py
"""

from __future__ import annotations

import copy

import torch

import pixelshuffle as ps

BLOCK = 4


class TResNetSpaceToDepth(torch.nn.Module):
    """timm's TResNet stem arithmetic, written out: block offsets first, then channels."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        x = x.view(n, c, h // BLOCK, BLOCK, w // BLOCK, BLOCK)
        x = x.permute(0, 3, 5, 1, 2, 4)  # (n, block row, block col, c, h/4, w/4)
        return x.reshape(n, BLOCK * BLOCK * c, h // BLOCK, w // BLOCK)


def stem() -> torch.nn.Sequential:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        TResNetSpaceToDepth(),
        torch.nn.Conv2d(3 * BLOCK * BLOCK, 64, 3, padding=1),
        torch.nn.BatchNorm2d(64),
        torch.nn.LeakyReLU(0.01),
    ).eval()


def main() -> float:
    original = stem()
    image = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        expected = original(image)
        # the stem is TensorFlow's space_to_depth order
        assert torch.equal(original[0](image), ps.pixel_unshuffle(image, BLOCK, convention="tf"))

        # 1. by hand: native PixelUnshuffle, first convolution's inputs permuted once
        native = copy.deepcopy(original)
        native[0] = torch.nn.PixelUnshuffle(BLOCK)
        unported = native(image)
        ps.nn.permute_inputs_(native[1], BLOCK, src="tf", dst="torch")
        by_hand = (native(image) - expected).abs().max().item()

        # 2. the model pass: the stem as a pixelshuffle module, converted to torch order
        tagged = copy.deepcopy(original)
        tagged[0] = ps.nn.PixelUnshuffle(BLOCK, convention="tf")
        converted = ps.convert_model(tagged, "torch")
        assert type(converted[0]) is torch.nn.PixelUnshuffle
        by_pass = (converted(image) - expected).abs().max().item()

    print("TResNet stem: space-to-depth(4, TensorFlow order) → Conv2d(48, 64) → BN → LeakyReLU")
    scrambled = (unported - expected).abs().max().item()
    print(f"max abs difference, PixelUnshuffle without porting the conv: {scrambled:.3g}")
    print(f"max abs difference, permute_inputs_: {by_hand:.3g}")
    print(f"max abs difference, convert_model: {by_pass:.3g}")
    difference = max(by_hand, by_pass)
    print(f"max abs difference: {difference:.3g}")
    return difference


if __name__ == "__main__":
    assert main() < 1e-5
