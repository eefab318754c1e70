"""examples/super_resolution.py runs, writes its figure and shows ICNR starting without a
checkerboard while the default initialisation starts with one."""

from __future__ import annotations

import importlib.util
import math
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from .conftest import require

torch = require("torch")
require("skimage")
require("matplotlib")
require("tqdm")

pytestmark = pytest.mark.frameworks

EXAMPLE = Path(__file__).parents[1] / "examples" / "super_resolution.py"
# init, energy at step 0, energy after training, mean PSNR, PSNR minus bicubic's
ROW = re.compile(r"^(ICNR|default)\s+(\S+)\s+(\S+)\s+(\d+\.\d+)\s+([+-]\d+\.\d+)$", re.M)


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLE), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def load_example(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    name = "super_resolution_example"
    spec = importlib.util.spec_from_file_location(name, EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up by name while the module runs
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    return module


def test_quick_run_writes_the_figure_and_the_table(tmp_path):
    image = require("matplotlib.image")
    output = tmp_path / "sr.png"
    completed = run("--quick", "--output", output)
    assert completed.returncode == 0, completed.stderr[-3000:]

    figure = image.imread(output)
    assert figure.ndim == 3
    assert figure.shape[0] > 300
    assert figure.shape[1] > 300
    assert list(tmp_path.iterdir()) == [output]  # no temporary file left behind

    rows = {init: numbers for init, *numbers in ROW.findall(completed.stdout)}
    assert sorted(rows) == ["ICNR", "default"], completed.stdout
    for init, numbers in rows.items():
        assert all(math.isfinite(float(number)) for number in numbers), (init, numbers)
        assert 5 < float(numbers[2]) < 60, (init, numbers)
    # ICNR: every 3×3 block of the fresh output is one value, so the phases agree exactly
    assert float(rows["ICNR"][0]) < 1e-12
    assert float(rows["default"][0]) > 1e-5
    assert re.search(r"^bicubic\s+-\s+\S+\s+\d+\.\d+", completed.stdout, re.M), completed.stdout
    for name in ("chelsea", "coins", "page"):
        assert re.search(rf"^{name}(\s+\d+\.\d+){{3}}$", completed.stdout, re.M), name


def test_an_existing_output_is_kept_without_force(tmp_path):
    output = tmp_path / "sr.png"
    output.write_bytes(b"not mine to overwrite")
    completed = run("--quick", "--steps", "0", "--output", output)
    assert completed.returncode == 2
    assert "exists; pass --force" in completed.stderr
    assert output.read_bytes() == b"not mine to overwrite"


def test_checkerboard_energy_is_the_variance_of_the_phase_means(monkeypatch):
    example = load_example(monkeypatch)
    low = torch.randn(2, 3, 5, 7, dtype=torch.float64)
    nearest = low.repeat_interleave(3, -2).repeat_interleave(3, -1)
    assert example.checkerboard_energy(nearest) == pytest.approx(0, abs=1e-24)
    # one bright pixel per 3×3 block: phase means 1 and eight 0s, variance 8/81
    dots = torch.zeros(1, 1, 12, 15)
    dots[..., ::3, ::3] = 1
    assert example.checkerboard_energy(dots) == pytest.approx(8 / 81)
    # a ×2 checkerboard puts its power at 1/2 cycle per pixel, none at 1/3 or 2/3
    stripes = (torch.arange(12.0) % 2).repeat(1, 1, 6, 1)
    assert example.checkerboard_energy(stripes) == pytest.approx(0, abs=1e-24)
