"""Train a small ×3 super-resolution network (ESPCN) on a CPU and compare ICNR with the
default initialisation of its sub-pixel convolution.

ESPCN (Shi et al. 2016) is Conv → Conv → sub-pixel convolution, with tanh activations; here
the last layer is ``pixelshuffle.nn.SubPixelConv``. The network learns the luminance (Y of
YCbCr) from patches of scikit-image's sample images, which ship inside its wheel, so nothing
is downloaded. Three images are held out: the example reports their PSNR against bicubic
upsampling, saves a side-by-side figure (bicubic | network | original) and prints a table
that trains the same network twice, with the same seed and batches, once with ICNR (Aitken
et al. 2017, the default of ``SubPixelConv``) and once with PyTorch's default
initialisation, and shows how much checkerboard each starts (and ends) with.

Low-resolution inputs are made as the super-resolution literature makes them: the
high-resolution image, cropped to a multiple of 3, is shrunk by 3 with an antialiased
bicubic filter (``torch.nn.functional.interpolate(..., antialias=True)``, the kernel of
PIL and MATLAB's ``imresize``); the baseline enlarges it back with the same bicubic. PSNR is
computed on Y (ITU-R BT.601, [16, 235] / 255 as MATLAB's ``rgb2ycbcr``) with a 3-pixel
border cropped, and averaged over the held-out images.

Run (about a minute on two CPU cores; needs torch, scikit-image, matplotlib and tqdm):

    python examples/super_resolution.py                  # writes sr_example.png
    python examples/super_resolution.py --output /tmp/sr.png --force --steps 4000
    python examples/super_resolution.py --quick          # a few seconds, a smoke test
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from skimage import data
from tqdm import tqdm

import pixelshuffle as ps

SCALE = 3
# images that scikit-image ships in its wheel (skimage/data/*); the others need pooch
TRAIN_IMAGES = (
    "astronaut",
    "camera",
    "coffee",
    "rocket",
    "moon",
    "brick",
    "grass",
    "gravel",
    "immunohistochemistry",
    "hubble_deep_field",
)
HELD_OUT = ("chelsea", "coins", "page")
FIGURE_IMAGE = "chelsea"
FIGURE_CROP = (slice(66, 186), slice(120, 300))  # the cat's eye and fur, in HR pixels
PATCH = 17  # low-resolution patch side: 17 → 51 high-resolution pixels, as in Shi et al.
BATCH = 32
LEARNING_RATE = 1e-3
STEPS = 2000
QUICK_STEPS = 20
BORDER = SCALE  # pixels cropped on each side before PSNR, as is customary
# BT.601 luminance of RGB in [0, 1], on MATLAB's rgb2ycbcr scale: Y in [16, 235] / 255
LUMA = torch.tensor([65.481, 128.553, 24.966]) / 255
LUMA_OFFSET = 16 / 255


def luma(rgb: torch.Tensor) -> torch.Tensor:
    """Y of ``(N, 3, H, W)`` RGB in [0, 1], as ``(N, 1, H, W)`` in [16, 235] / 255."""
    return torch.einsum("nchw,c->nhw", rgb, LUMA)[:, None] + LUMA_OFFSET


def bicubic(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    # antialias=True selects the PIL/MATLAB kernel (a = -0.5) in both directions and
    # low-pass filters when shrinking, so the low-resolution image does not alias
    return F.interpolate(image, size=size, mode="bicubic", antialias=True, align_corners=False)


@dataclass
class Sample:
    """One image at high and low resolution, RGB in [0, 1], shape ``(1, 3, H, W)``."""

    name: str
    hr: torch.Tensor
    lr: torch.Tensor

    @classmethod
    def load(cls, name: str) -> Sample:
        pixels = getattr(data, name)()
        if pixels.ndim == 2:  # grey images: R = G = B, so Y is the grey level
            pixels = np.stack([pixels] * 3, axis=-1)
        height, width = (size - size % SCALE for size in pixels.shape[:2])
        rgb = torch.from_numpy(pixels[:height, :width, :3].astype(np.float32) / 255)
        hr = rgb.permute(2, 0, 1)[None].contiguous()
        lr = bicubic(hr, (height // SCALE, width // SCALE)).clamp(0, 1)
        return cls(name, hr, lr)

    def upscaled(self) -> torch.Tensor:
        """The bicubic baseline, RGB at high resolution."""
        return bicubic(self.lr, (self.hr.shape[-2], self.hr.shape[-1])).clamp(0, 1)


class ESPCN(torch.nn.Module):
    """Shi et al. 2016 on luminance: 5×5 conv (64) → tanh → 3×3 conv (32) → tanh → ×3
    sub-pixel convolution, ``(N, 1, H, W) -> (N, 1, 3H, 3W)``."""

    def __init__(self, icnr: bool) -> None:
        super().__init__()
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(1, 64, 5, padding=2),
            torch.nn.Tanh(),
            torch.nn.Conv2d(64, 32, 3, padding=1),
            torch.nn.Tanh(),
        )
        # built after the features, so that with one seed both inits share those weights
        self.upsample = ps.nn.SubPixelConv(32, 1, SCALE, kernel_size=3, icnr=icnr)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        # Y lies in [0.06, 0.92]; centred on 0 it meets tanh where tanh is steepest, and
        # training reaches the same PSNR in about half the steps
        return self.upsample(self.features(y - 0.5)) + 0.5


def checkerboard_energy(output: torch.Tensor, factor: int = SCALE) -> float:
    """The power of ``output`` (``(N, C, f·h, f·w)``) at the frequencies of a ×f shuffle's
    checkerboard.

    Split the image into its ``f × f`` sub-pixel phases (the pixels ``(f·a + i, f·b + j)``
    for each offset ``(i, j)``) and average each phase over the whole image: ``m[i, j]``.
    The energy is the variance of those ``f²`` phase means, ``mean((m - mean(m))²)``,
    averaged over images and channels; units are (Y in [0, 1])².

    By Parseval this is the image's power at the spatial frequencies ``(u/f, v/f)``
    cycles per pixel, ``(u, v) ≠ (0, 0)``: exactly where the pattern lies that a sub-pixel
    convolution makes when each of its ``f²`` depth channels has its own kernel and bias
    (Aitken et al. 2017). Natural images put almost no power there, since their content
    is not locked to a 3-pixel grid. A freshly ICNR-initialised ``SubPixelConv`` makes every
    ``f × f`` block one value (nearest-neighbour upsampling), so every phase mean is the
    image mean and the energy is 0, up to rounding.
    """
    n, c, height, width = output.shape
    phases = output.reshape(n, c, height // factor, factor, width // factor, factor)
    means = phases.double().mean(dim=(2, 4))  # (N, C, f, f)
    return float((means - means.mean(dim=(-2, -1), keepdim=True)).square().mean())


def psnr(estimate: torch.Tensor, reference: torch.Tensor) -> float:
    """PSNR in dB of two ``(1, 1, H, W)`` Y images with peak 1, borders cropped."""
    inner = (..., slice(BORDER, -BORDER), slice(BORDER, -BORDER))
    error = (estimate.clamp(0, 1)[inner] - reference[inner]).double().square().mean()
    return float(-10 * torch.log10(error))


def patches(
    pairs: Sequence[tuple[torch.Tensor, torch.Tensor]], rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of aligned (LR, HR) Y patches, ``(B, 1, 17, 17)`` and ``(B, 1, 51, 51)``."""
    low, high = [], []
    for k in rng.integers(len(pairs), size=BATCH):
        lr, hr = pairs[k]
        i = int(rng.integers(lr.shape[-2] - PATCH + 1))
        j = int(rng.integers(lr.shape[-1] - PATCH + 1))
        low.append(lr[..., i : i + PATCH, j : j + PATCH])
        high.append(hr[..., SCALE * i : SCALE * (i + PATCH), SCALE * j : SCALE * (j + PATCH)])
    return torch.cat(low), torch.cat(high)


@dataclass
class Result:
    """One trained network and what it did on the held-out images."""

    init: str
    model: ESPCN
    energy_at_start: float
    energy_trained: float
    psnr: dict[str, float]
    seconds: float


def evaluate(model: ESPCN, held_out: Sequence[Sample]) -> tuple[float, dict[str, float]]:
    """Checkerboard energy of the outputs (mean over images) and PSNR per image."""
    energies, scores = [], {}
    with torch.no_grad():
        for sample in held_out:
            output = model(luma(sample.lr))
            energies.append(checkerboard_energy(output))
            scores[sample.name] = psnr(output, luma(sample.hr))
    return float(np.mean(energies)), scores


def train(
    init: str,
    pairs: Sequence[tuple[torch.Tensor, torch.Tensor]],
    held_out: Sequence[Sample],
    steps: int,
    seed: int,
) -> Result:
    torch.manual_seed(seed)
    model = ESPCN(icnr=init == "ICNR")
    energy_at_start, _ = evaluate(model, held_out)
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(steps, 1))
    rng = np.random.default_rng(seed)  # the same batches for both inits
    start = time.perf_counter()
    progress = tqdm(range(steps), desc=f"training, {init} init", unit="step", mininterval=0.5)
    for step in progress:
        low, high = patches(pairs, rng)
        loss = F.mse_loss(model(low), high)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % 50 == 0 or step == steps - 1:
            progress.set_postfix(batch_psnr=f"{-10 * np.log10(loss.item()):.2f} dB", refresh=False)
    seconds = time.perf_counter() - start
    energy_trained, scores = evaluate(model, held_out)
    return Result(init, model, energy_at_start, energy_trained, scores, seconds)


def save_figure(path: str, sample: Sample, model: ESPCN, scores: dict[str, float]) -> None:
    """Bicubic | network | original, whole image above and a zoomed crop below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    baseline = sample.upscaled()
    with torch.no_grad():
        y = model(luma(sample.lr)).clamp(0, 1)
    # keep the bicubic colour and swap in the network's luminance: with Cb and Cr fixed,
    # BT.601 moves R, G and B alike by 255/219 per unit of Y on this scale
    network = (baseline + (y - luma(baseline)) * (255 / 219)).clamp(0, 1)
    panels = [
        (f"bicubic, {scores['bicubic']:.2f} dB", baseline),
        (f"ESPCN (ICNR), {scores['network']:.2f} dB", network),
        ("original", sample.hr),
    ]
    rows, cols = FIGURE_CROP
    fig, axes = plt.subplots(2, 3, figsize=(13.5, 6.9))
    for column, (title, image) in enumerate(panels):
        pixels = image[0].permute(1, 2, 0).numpy()
        top, bottom = axes[0][column], axes[1][column]
        top.imshow(pixels, interpolation="nearest")
        top.add_patch(
            Rectangle(
                (cols.start, rows.start),
                cols.stop - cols.start,
                rows.stop - rows.start,
                fill=False,
                edgecolor="yellow",
                linewidth=1.2,
            )
        )
        top.set_title(title, fontsize=11)
        bottom.imshow(pixels[rows, cols], interpolation="nearest")
        for ax in (top, bottom):
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(
        f"×{SCALE} super-resolution of a held-out image ({sample.name}); PSNR on Y,"
        f" {BORDER}-pixel border cropped",
        fontsize=12,
    )
    fig.tight_layout()
    # write beside the target and rename, so that a crash never leaves half a PNG
    folder = os.path.dirname(os.path.abspath(path))
    partial = os.path.join(folder, f".{os.path.basename(path)}.partial")
    try:
        fig.savefig(partial, format="png", dpi=100)
        os.replace(partial, path)
    except BaseException:
        if os.path.exists(partial):
            os.unlink(partial)
        raise
    finally:
        plt.close(fig)


def report(results: Sequence[Result], held_out: Sequence[Sample], steps: int) -> dict[str, float]:
    """Print the per-image PSNR and the ICNR-vs-default table; return the mean PSNRs."""
    baseline = {s.name: psnr(luma(s.upscaled()), luma(s.hr)) for s in held_out}
    means = {"bicubic": float(np.mean(list(baseline.values())))}
    means.update({r.init: float(np.mean(list(r.psnr.values()))) for r in results})

    print(f"\nPSNR on Y of the held-out images (dB), ×{SCALE}, {steps} training steps")
    print(f"{'image':<10}{'bicubic':>10}" + "".join(f"{r.init:>10}" for r in results))
    for sample in held_out:
        row = "".join(f"{r.psnr[sample.name]:>10.2f}" for r in results)
        print(f"{sample.name:<10}{baseline[sample.name]:>10.2f}{row}")
    print(f"{'mean':<10}" + "".join(f"{value:>10.2f}" for value in means.values()))

    bicubic_energy = np.mean([checkerboard_energy(luma(s.upscaled())) for s in held_out])
    original_energy = np.mean([checkerboard_energy(luma(s.hr)) for s in held_out])
    print("\nICNR vs default initialisation of the SubPixelConv (same seed, batches and steps)")
    print("checkerboard energy: power at 1/3 and 2/3 cycles per pixel, (Y in [0, 1])²")
    print(f"{'init':<10}{'energy@0':>12}{'energy@end':>12}{'PSNR dB':>10}{'vs bicubic':>12}")
    for r in results:
        print(
            f"{r.init:<10}{r.energy_at_start:>12.3e}{r.energy_trained:>12.3e}"
            f"{means[r.init]:>10.2f}{means[r.init] - means['bicubic']:>+12.2f}"
        )
    print(f"{'bicubic':<10}{'-':>12}{bicubic_energy:>12.3e}{means['bicubic']:>10.2f}{0:>+12.2f}")
    print(f"{'original':<10}{'-':>12}{original_energy:>12.3e}{'-':>10}{'-':>12}")
    return means


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Train ESPCN ×3 with pixelshuffle.nn.SubPixelConv on scikit-image's"
        " sample images and compare it with bicubic upsampling and with default init."
    )
    parser.add_argument("--steps", type=int, help=f"training steps per init ({STEPS})")
    parser.add_argument("--seed", type=int, default=0, help="seed of weights and batches (0)")
    parser.add_argument(
        "--output", default="sr_example.png", help="the figure to write (sr_example.png)"
    )
    parser.add_argument("--force", action="store_true", help="overwrite an existing --output")
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_STEPS} steps: a smoke test, not a result"
    )
    args = parser.parse_args(argv)
    if args.steps is None:
        args.steps = QUICK_STEPS if args.quick else STEPS
    if args.steps < 0:
        parser.error(f"--steps must be 0 or more, got {args.steps}")
    # refuse before a minute of training rather than after it
    if os.path.exists(args.output) and not args.force:
        parser.error(f"{args.output} exists; pass --force to overwrite it")
    folder = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(folder):
        parser.error(f"the folder of --output does not exist: {folder}")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse(argv)
    start = time.perf_counter()
    training = [Sample.load(name) for name in TRAIN_IMAGES]
    pairs = [(luma(s.lr), luma(s.hr)) for s in training]
    held_out = [Sample.load(name) for name in HELD_OUT]
    results = [train(init, pairs, held_out, args.steps, args.seed) for init in ("ICNR", "default")]
    means = report(results, held_out, args.steps)

    icnr = results[0]
    figure = next(s for s in held_out if s.name == FIGURE_IMAGE)
    scores = {
        "bicubic": psnr(luma(figure.upscaled()), luma(figure.hr)),
        "network": icnr.psnr[FIGURE_IMAGE],
    }
    save_figure(args.output, figure, icnr.model, scores)
    training_time = sum(r.seconds for r in results)
    print(
        f"\nwrote {args.output}; training {training_time:.1f} s, total"
        f" {time.perf_counter() - start:.1f} s on {torch.get_num_threads()} threads"
    )
    if means["ICNR"] <= means["bicubic"] and not args.quick:
        print("the network did not beat bicubic; train longer with --steps", file=sys.stderr)


if __name__ == "__main__":
    main()
