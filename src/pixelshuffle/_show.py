"""The `show` demonstration: one input, every convention's output, side by side."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ._convention import Convention, parse_convention
from ._factor import normalize_factor
from ._files import atomic_output
from ._layout import Layout, parse_layout
from ._ops import pixel_shuffle

__all__ = ["Comparison", "compare", "render_png", "render_text"]

_WHO = {
    "torch": "PyTorch, ONNX CRD, Paddle",
    "tf": "TensorFlow, ONNX DCR (default), timm",
    "caffe": "RealSR's Caffe models",
}
_GAP = "    "


@dataclass(frozen=True)
class Comparison:
    """The outputs of one depth input under several conventions.

    ``outputs[name]`` is channels first, ``(C, *spatial)``, whatever the layout; the
    input's depth channel ``k`` holds ``k + 1``, so a value names the channel it came
    from.
    """

    layout: Layout
    factors: tuple[int, ...]
    channels: int
    conventions: tuple[Convention, ...]
    outputs: dict[Convention, np.ndarray]

    @property
    def depth(self) -> int:
        return self.channels * math.prod(self.factors)


def compare(
    factor: int | Sequence[int] = 3,
    channels: int = 3,
    conventions: Sequence[str | Convention] = ("torch", "tf", "caffe"),
    layout: str = "NCHW",
) -> Comparison:
    """Shuffle a depth input whose channel ``k`` holds ``k + 1`` under each convention.

    Example:
        >>> from pixelshuffle._show import compare
        >>> result = compare(factor=2, channels=2, conventions=["torch", "tf"])
        >>> result.outputs[result.conventions[1]][0]
        array([[1, 3],
               [5, 7]])
    """
    parsed_layout = parse_layout(layout)
    factors = normalize_factor(factor, parsed_layout)
    parsed = tuple(dict.fromkeys(parse_convention(c) for c in conventions))
    depth = channels * math.prod(factors)
    shape = [1] * parsed_layout.n_axes
    shape[parsed_layout.channel_axis] = depth
    x = (np.arange(depth, dtype=np.int64) + 1).reshape(shape)
    outputs = {}
    for convention in parsed:
        y = pixel_shuffle(x, factors, convention=convention, layout=parsed_layout)
        outputs[convention] = np.moveaxis(y, -1, 0) if parsed_layout.channels_last else y
    return Comparison(parsed_layout, factors, channels, parsed, outputs)


def _a(number: int) -> str:
    """The article for a number read aloud: 'an' 8, 'an' 11, 'an' 18, 'a' 27."""
    text = str(number)
    return "an" if text[0] == "8" or (len(text) in (2, 5) and text[:2] in ("11", "18")) else "a"


def _slices(volume: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """A channel's spatial block as labelled 2-D grids (1-D: one row; 3-D: one per depth)."""
    if volume.ndim == 1:
        return [("", volume[None, :])]
    if volume.ndim == 2:
        return [("", volume)]
    return [(f"d={d}", volume[d]) for d in range(volume.shape[0])]


def render_text(result: Comparison) -> str:
    """The comparison as aligned grids, one column of grids per convention."""
    layout = result.layout
    spatial = "×".join(str(f) for f in result.factors)
    width = len(str(result.depth))
    lines = [
        f"pixel_shuffle of {_a(result.depth)} {result.depth}-channel input"
        " whose channel k holds k+1,"
        f" factor {spatial}, layout {layout.name}",
        f"-> {result.channels} channel{'s' * (result.channels != 1)} of {spatial};"
        " a value v came from input channel v-1",
        "",
    ]
    headers = [c.spec for c in result.conventions]
    orders = [" ".join(c.order_for(layout)) for c in result.conventions]
    grid_width = max(*map(len, headers + orders), result.factors[-1] * (width + 1) - 1)
    name_width = len(f"channel {result.channels - 1}")
    label_width = name_width + (len(f"  d={result.factors[0] - 1}") if layout.rank == 3 else 0)
    for row in (headers, orders):
        cells = [f"{cell:<{grid_width}}" for cell in row]
        lines.append(" " * label_width + _GAP + _GAP.join(cells).rstrip())
    for c in range(result.channels):
        lines.append("")
        per_convention = [_slices(result.outputs[conv][c]) for conv in result.conventions]
        for s, (tag, first) in enumerate(per_convention[0]):
            for r in range(first.shape[0]):
                label = f"channel {c}" if s == 0 and r == 0 else ""
                if r == 0 and tag:
                    label = f"{label:<{name_width}}  {tag}"
                cells = []
                for slices in per_convention:
                    row = slices[s][1][r]
                    cells.append(f"{' '.join(f'{v:>{width}}' for v in row):<{grid_width}}")
                lines.append(f"{label:<{label_width}}{_GAP}{_GAP.join(cells).rstrip()}")
    lines.append("")
    for conv in result.conventions:
        who = _WHO.get(conv.spec, "an explicit digit order")
        lines.append(f"{conv.spec}: digits {' '.join(conv.order_for(layout))} — {who}")
    return "\n".join(lines)


def render_png(result: Comparison, path: str) -> None:
    """Write the comparison as a figure: one row per output channel, one column per
    convention, each pixel coloured and labelled by its value (input channel + 1)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError(
            "writing a PNG needs matplotlib: pip install 'pixelshuffle[plot]'"
        ) from None
    rows = [
        (c, tag, grid)
        for c in range(result.channels)
        for tag, grid in _slices(result.outputs[result.conventions[0]][c])
    ]
    n_rows, n_cols = len(rows), len(result.conventions)
    first = rows[0][2]
    cell = 0.45
    fig, axes = plt.subplots(
        n_rows,
        n_cols,
        figsize=(
            max(2.6, first.shape[1] * cell + 0.8) * n_cols,
            (first.shape[0] * cell + 0.7) * n_rows + 0.6,
        ),
        squeeze=False,
    )
    for col, conv in enumerate(result.conventions):
        slices = [
            grid for c in range(result.channels) for _, grid in _slices(result.outputs[conv][c])
        ]
        for row, grid in enumerate(slices):
            ax = axes[row][col]
            ax.imshow(grid, cmap="viridis", vmin=1, vmax=result.depth)
            for (i, j), value in np.ndenumerate(grid):
                shade = "white" if value < 0.6 * result.depth else "black"
                ax.text(j, i, str(value), ha="center", va="center", fontsize=9, color=shade)
            ax.set_xticks([])
            ax.set_yticks([])
            c, tag, _ = rows[row]
            if row == 0:
                order = " ".join(conv.order_for(result.layout))
                ax.set_title(f"{conv.spec}  ({order})", fontsize=11)
            if col == 0:
                ax.set_ylabel(f"channel {c}" + (f"\n{tag}" if tag else ""), fontsize=10)
    spatial = "×".join(str(f) for f in result.factors)
    fig.suptitle(
        f"pixel_shuffle of {_a(result.depth)} {result.depth}-channel input"
        " whose channel k holds k+1,"
        f" factor {spatial}, {result.layout.name}",
        fontsize=11,
    )
    fig.tight_layout()
    try:
        with atomic_output(path) as stream:
            fig.savefig(stream, format="png", dpi=120)
    finally:
        plt.close(fig)
