"""Test configuration: which real frameworks a run must cover, and hypothesis profiles.

``PIXELSHUFFLE_TEST_FRAMEWORKS`` names the frameworks a run requires (comma-separated,
or ``all``). A required framework that fails to import fails the run; one that is not
required is skipped when missing. The README's test command requires all of them.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest
from hypothesis import HealthCheck, settings

FRAMEWORKS = (
    "torch",
    "tensorflow",
    "jax",
    "dm_pix",
    "onnx",
    "onnxruntime",
    "onnxscript",
    "safetensors",
    "numba",
    "triton",
    "skimage",
    "tqdm",
    "mkdocs",
    "mkdocstrings",
)

settings.register_profile(
    "ci",
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=40, deadline=None)
# deterministic by default, so that a run fails or passes the same way everywhere
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def _required() -> set[str]:
    text = os.environ.get("PIXELSHUFFLE_TEST_FRAMEWORKS", "").strip()
    if text == "all":
        return set(FRAMEWORKS)
    names = {name.strip() for name in text.split(",") if name.strip()}
    unknown = names - set(FRAMEWORKS)
    if unknown:
        raise pytest.UsageError(
            f"PIXELSHUFFLE_TEST_FRAMEWORKS names unknown frameworks {sorted(unknown)};"
            f" known: {', '.join(FRAMEWORKS)} or 'all'"
        )
    return names


def require(name: str) -> ModuleType:
    """Import a framework for a test module: fail if the run requires it, else skip."""
    try:
        return importlib.import_module(name)
    except ImportError as error:
        if name.partition(".")[0] in _required():
            raise ImportError(
                f"{name} is required by PIXELSHUFFLE_TEST_FRAMEWORKS but failed to import: {error}"
            ) from error
        pytest.skip(f"{name} is not installed", allow_module_level=True)
