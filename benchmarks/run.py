"""Run the pixelshuffle benchmark harness: ``python benchmarks/run.py --help``.

The same as ``pixelshuffle bench``; the code lives in ``pixelshuffle._bench``. The
method is described in ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

try:
    from pixelshuffle import _bench
except ImportError:  # run from a checkout where the package is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    from pixelshuffle import _bench


def main() -> int:
    """Parse the command line and run the harness; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="benchmarks/run.py",
        description=_bench.DESCRIPTION,
    )
    _bench.add_arguments(parser)
    return _bench.run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
