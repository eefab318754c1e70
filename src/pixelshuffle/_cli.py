"""The ``pixelshuffle`` command line program."""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence

from . import __version__
from ._errors import PixelShuffleError
from ._factor import factor_argument
from ._layout import LAYOUTS

__all__ = ["main"]

_MOST = 10_000  # values shown by `show`: beyond that a grid is unreadable anyway


def _conventions(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pixelshuffle",
        description="PixelShuffle / depth_to_space in every framework's channel convention.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    show = commands.add_parser(
        "show",
        help="show which input channel lands where under each convention",
        description=(
            "Shuffle a depth input whose channel k holds k+1 (by default the article's"
            " 27-channel example, factor 3) and print the result of each convention side by"
            " side."
        ),
    )
    show.add_argument(
        "--factor",
        type=factor_argument,
        default=3,
        help="int or per-axis ints, e.g. 2,3 (default 3)",
    )
    show.add_argument("--channels", type=int, default=3, help="output channels (default 3)")
    show.add_argument(
        "--convention",
        type=_conventions,
        action="extend",
        help="conventions to compare, comma-separated or repeated (default torch,tf,caffe)",
    )
    show.add_argument(
        "--layout", default="NCHW", help=f"one of {', '.join(LAYOUTS)} (default NCHW)"
    )
    show.add_argument("--png", metavar="FILE", help="also write the comparison as a PNG figure")
    show.add_argument("--force", action="store_true", help="overwrite an existing --png file")

    from . import _checkpoint

    convert = commands.add_parser(
        "convert",
        help="port a PyTorch checkpoint's weights from one convention to another",
        description=(
            "Permute the depth channels of named layers of a checkpoint (.pt, .pth or"
            " .safetensors) from convention --src to --dst and write a new checkpoint."
            " Example: pixelshuffle convert tf_model.pt torch_model.pt --src tf --dst torch"
            " --factor 3 --outputs upsample.0"
        ),
    )
    _checkpoint.add_arguments(convert)

    from . import _bench

    bench = commands.add_parser("bench", help=_bench.HELP, description=_bench.DESCRIPTION)
    _bench.add_arguments(bench)

    from . import _verify

    verify = commands.add_parser("verify", help=_verify.HELP, description=_verify.DESCRIPTION)
    _verify.add_arguments(verify)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line program; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if args.command == "convert":
        from ._checkpoint import run

        return run(args)
    if args.command == "bench":
        from ._bench import run

        return run(args)
    if args.command == "verify":
        from ._verify import run

        return run(args)
    return _show(parser, args)


def _show(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from ._show import compare, render_png, render_text

    if args.channels < 1:
        parser.error(f"--channels must be at least 1, got {args.channels}")
    rank = max(1, len(args.layout.strip()) - 2)  # a bad layout is reported by compare()
    factors = args.factor if isinstance(args.factor, tuple) else (args.factor,) * rank
    if args.channels * math.prod(factors) > _MOST:
        parser.error(
            f"the demonstration shows at most {_MOST} values; use smaller --factor or --channels"
        )
    if args.png and os.path.exists(args.png) and not args.force:
        parser.error(f"{args.png} exists; pass --force to overwrite it")
    try:
        result = compare(
            factor=args.factor,
            channels=args.channels,
            conventions=args.convention or ("torch", "tf", "caffe"),
            layout=args.layout,
        )
        print(render_text(result))
        if args.png:
            render_png(result, args.png)
            print(f"\nwrote {args.png}")
    except (PixelShuffleError, ImportError, OSError) as error:
        print(f"pixelshuffle show: error: {error}", file=sys.stderr)
        return 2
    return 0
