"""The benchmark harness (``pixelshuffle._bench``, ``benchmarks/run.py``) on tiny inputs.

These tests check what the harness records, never how fast anything is: timings on a
shared test machine prove nothing (design §5).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from pixelshuffle import _bench

from .conftest import require

torch = require("torch")

pytestmark = pytest.mark.frameworks

RUN_PY = Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"
# as fast as the harness goes: the point is what it records
FAST = ["--size", "tiny", "--repeats", "2", "--warmup", "1", "--min-sample-ms", "0.05"]


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    _bench.add_arguments(parser)
    return parser.parse_args(list(argv))


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ValueError:
        return False


def _results(tmp_path: Path) -> tuple[dict, str]:
    report = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    markdown = (tmp_path / "results.md").read_text(encoding="utf-8")
    return report, markdown


def test_smoke_records_library_limits_and_peers(tmp_path, capsys):
    args = _parse(
        *FAST,
        *("--direction", "up,down", "--convention", "torch,tf", "--layout", "NCHW,NHWC"),
        *("--dtype", "float32", "--factor", "3", "--skip", "compile"),
        *("--output-dir", str(tmp_path)),
    )
    assert _bench.run(args) == 0
    err = capsys.readouterr().err
    assert "[1/8] up torch NCHW float32 f=3 tiny" in err
    assert "[8/8]" in err
    report, markdown = _results(tmp_path)

    assert report["machine"]["torch_threads"] >= 1
    assert report["versions"]["torch"] == torch.__version__
    assert report["command"]
    assert len(report["cases"]) == 8
    for case in report["cases"]:
        records = {record["implementation"]: record for record in case["results"]}
        assert set(records) == {impl.key for impl in _bench._IMPLS}
        # the library and both limits are checked and timed in every case
        for key in ("clone", "copy", "pixelshuffle", "pixelshuffle_out"):
            record = records[key]
            assert record["status"] == "ok", (case["label"], record)
            assert record["check"] == "ok"
            assert record["median_ns"] > 0
            assert record["q1_ns"] <= record["median_ns"] <= record["q3_ns"]
            assert len(record["samples_ns"]) == 2
        assert records["clone"]["ratio"] == 1.0
        assert records["copy"]["ratio"] == 1.0
        assert records["pixelshuffle"]["ratio"] > 0
        # a peer that does not apply is recorded, with the reason
        expected = {
            "torch": "ok" if case["convention"] == "torch" else "n/a",
            "torch_compile": "skipped",
            "recipe": "ok",
            "recipe_out": "ok",
            "einops": "ok" if _installed("einops") else "not installed",
            "pixelshuffle_channels_last": "ok" if case["layout"] == "NHWC" else "n/a",
            "pixelshuffle_channels_last_out": "ok" if case["layout"] == "NHWC" else "n/a",
        }
        if case["convention"] != "tf" or case["layout"] != "NHWC":
            expected["tensorflow"] = "n/a"
        elif _installed("tensorflow"):
            expected["tensorflow"] = "ok"
        if case["layout"] != "NCHW":
            expected["onnxruntime"] = expected["onnxruntime_out"] = "n/a"
        elif _installed("onnxruntime") and _installed("onnx"):
            expected["onnxruntime"] = expected["onnxruntime_out"] = "ok"
        for key, status in expected.items():
            assert records[key]["status"] == status, (case["label"], records[key])
            if status == "ok":
                assert records[key]["check"] == "ok"
                assert "ratio" in records[key]
            else:
                assert records[key]["note"]
                assert "median_ns" not in records[key]

    for heading in (
        "x.clone()",
        "out.copy_(x)",
        "pixelshuffle out=",
        "F.pixel_(un)shuffle",
        "torch.compile",
        "einops",
        "view/permute/contiguous",
        "tf.nn",
        "onnxruntime",
        "up tf NHWC float32 f=3 tiny",
    ):
        assert heading in markdown
    assert "## Every measurement" in markdown


def test_wrong_output_is_reported_and_not_timed(tmp_path, monkeypatch, capsys):
    # einops and the recipe derive their axis order from _depth_digits; break it for
    # 'torch' so that they compute the tf order, and check that the harness notices
    real = _bench._depth_digits

    def wrong(convention, factors):
        return real("tf" if convention == "torch" else convention, factors)

    monkeypatch.setattr(_bench, "_depth_digits", wrong)
    args = _parse(
        *FAST,
        *("--direction", "up", "--convention", "torch", "--layout", "NCHW"),
        *("--dtype", "uint8", "--factor", "3", "--skip", "compile,tensorflow,onnxruntime"),
        *("--output-dir", str(tmp_path)),
    )
    assert _bench.run(args) == 1
    assert "not timed because of wrong output" in capsys.readouterr().err
    report, markdown = _results(tmp_path)
    records = {record["implementation"]: record for record in report["cases"][0]["results"]}
    for key in ("einops", "recipe", "recipe_out"):
        if key == "einops" and not _installed("einops"):
            continue
        assert records[key]["status"] == "mismatch"
        assert "elements differ" in records[key]["check"]
        assert "median_ns" not in records[key]
    assert records["torch"]["status"] == "ok"  # F.pixel_shuffle agrees with the library
    assert "mismatch" in markdown


def test_cases_are_non_square_batches_of_the_asked_bytes():
    for size in ("small", "medium", "large"):
        target = _bench.SIZES[size]
        # whole pixels: a small 3-D case with 4·4·4-fold depth overshoots by up to 1/8
        slack = 1.15 if size == "small" else 1.05
        for layout in ("NCHW", "NHWC", "NCDHW"):
            for dtype in ("float32", "bfloat16", "uint8"):
                for factor in (2, 3, 4):
                    case = _bench.plan_case("up", "tf", layout, dtype, factor, size, target)
                    assert target <= case.nbytes <= slack * target, case
                    assert case.batch > 1
                    assert len(set(case.coarse)) > 1
                    coarse_shape, fine_shape = case.shapes()
                    down = _bench.plan_case("down", "tf", layout, dtype, factor, size, target)
                    assert down.shapes() == (fine_shape, coarse_shape)
                    assert math.prod(coarse_shape) == math.prod(fine_shape)


def test_quick_subset_and_filters():
    quick = _bench.select_cases(_parse("--quick"))
    assert len(quick) == 8
    assert {case.size for case in quick} == {"small"}
    assert len(_bench.select_cases(_parse("--quick", "--dtype", "uint8,bfloat16"))) == 16
    full = _bench.select_cases(_parse())
    assert len(full) == 2 * 3 * 3 * 3 * 3 * 3
    custom = _bench.select_cases(_parse("--bytes", "1000", "--convention", "caffe"))
    assert {case.size for case in custom} == {"1000B"}
    with pytest.raises(SystemExit):
        _parse("--factor", "1")


def test_existing_results_are_not_overwritten(tmp_path, capsys):
    (tmp_path / "results.json").write_text("{}", encoding="utf-8")
    assert _bench.run(_parse("--output-dir", str(tmp_path))) == 2
    assert "--force" in capsys.readouterr().err
    assert (tmp_path / "results.json").read_text(encoding="utf-8") == "{}"


def test_run_py_help_needs_no_framework():
    code = (
        "import runpy, sys\n"
        f"sys.argv = [{str(RUN_PY)!r}, '--help']\n"
        "try:\n"
        f"    runpy.run_path({str(RUN_PY)!r}, run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('torch' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert "--quick" in result.stdout
    assert "--output-dir" in result.stdout
    assert result.stdout.strip().endswith("False")


def test_failure_while_timed_is_reported(tmp_path, monkeypatch, capsys):
    # checked fine, then raises when timed (as running out of memory would)
    def setup(inputs):
        checked = _bench._setup_recipe(inputs)

        def call():
            raise MemoryError("out of memory")

        return _bench._Timed(call, checked.produce, checked.expected)

    impls = tuple(
        dataclasses.replace(impl, setup=setup) if impl.key == "recipe" else impl
        for impl in _bench._IMPLS
    )
    monkeypatch.setattr(_bench, "_IMPLS", impls)
    args = _parse(
        *FAST,
        *("--direction", "down", "--convention", "caffe", "--layout", "NHWC"),
        *("--dtype", "bfloat16", "--factor", "2", "--output-dir", str(tmp_path)),
    )
    assert _bench.run(args) == 1
    assert "MemoryError while timed: out of memory" in capsys.readouterr().err
    report, _ = _results(tmp_path)
    records = {record["implementation"]: record for record in report["cases"][0]["results"]}
    assert records["recipe"]["status"] == "error"
    assert "median_ns" not in records["recipe"]
    assert records["pixelshuffle"]["status"] == "ok"
    assert "ratio" in records["pixelshuffle"]
