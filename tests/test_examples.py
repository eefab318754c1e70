"""The worked examples in examples/ run and reproduce the original model's outputs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import require

EXAMPLES = Path(__file__).parents[1] / "examples"
NEEDS = {
    "keras_espcn_to_pytorch.py": ("torch", "tensorflow", "keras"),
    "tresnet_stem_to_pytorch.py": ("torch",),
    "onnx_dcr_export.py": ("torch", "onnx", "onnxruntime", "onnxscript"),
}
# trains for a minute: tests/test_super_resolution_example.py runs it with --quick
OWN_TESTS = {"super_resolution.py"}

pytestmark = pytest.mark.frameworks


def test_every_example_is_listed():
    assert sorted(path.name for path in EXAMPLES.glob("*.py")) == sorted({*NEEDS, *OWN_TESTS})


@pytest.mark.parametrize("name", sorted(NEEDS))
def test_example_reproduces_the_original(name):
    for module in NEEDS[name]:
        require(module)
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    completed = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        capture_output=True,
        text=True,
        timeout=300,
        env=environment,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    differences = re.findall(r"^max abs difference: (\S+)$", completed.stdout, flags=re.M)
    assert differences, completed.stdout
    assert float(differences[-1]) < 1e-5
