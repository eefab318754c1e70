"""Importing pixelshuffle imports no framework and warns about nothing."""

from __future__ import annotations

import subprocess
import sys

import pixelshuffle as ps

FRAMEWORKS = (
    "torch",
    "jax",
    "jaxlib",
    "tensorflow",
    "keras",
    "onnx",
    "onnxruntime",
    "onnxscript",
    "matplotlib",
    "numba",
)


def _run(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def test_import_imports_no_framework():
    code = (
        "import sys, numpy as np, pixelshuffle as ps\n"
        "ps.pixel_shuffle(np.zeros((1, 18, 2, 2)), 3, convention='tf')\n"
        "ps.channel_permutation(18, 3, src='tf', dst='caffe')\n"
        f"print(sorted(m for m in {FRAMEWORKS!r} if m in sys.modules))"
    )
    assert _run(code) == "[]"


def test_nn_is_lazy():
    code = (
        "import sys, pixelshuffle as ps\n"
        "print('torch' in sys.modules, 'pixelshuffle.nn' in sys.modules)\n"
        "ps.nn.PixelShuffle\n"
        "print('torch' in sys.modules)"
    )
    assert _run(code).split() == ["False", "False", "True"]


def test_public_surface():
    assert set(ps.__all__) == {
        "ALIASES", "LAYOUTS", "Layout", "PRESETS", "Convention", "PixelShuffleError",
        "PixelShuffleTypeError", "__version__", "channel_permutation", "convert",
        "convert_checkpoint", "convert_model", "feature_permutation", "permute_channels",
        "pixel_shuffle", "pixel_unshuffle",
    }  # fmt: skip
    for name in ps.__all__:
        assert getattr(ps, name) is not None


def test_star_import_imports_no_framework():
    code = (
        "import sys\n"
        "from pixelshuffle import *\n"
        f"print(sorted(m for m in {FRAMEWORKS!r} if m in sys.modules))"
    )
    assert _run(code) == "[]"


def test_nn_without_torch_names_the_extra():
    code = (
        "import sys\n"
        "sys.modules['torch'] = None  # as if torch were not installed\n"
        "import pixelshuffle as ps\n"
        "try:\n"
        "    ps.nn\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    assert _run(code) == "pixelshuffle.nn needs PyTorch: pip install 'pixelshuffle[torch]'"
