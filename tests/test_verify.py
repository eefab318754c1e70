"""``pixelshuffle verify`` against the frameworks installed here.

One ``verify()`` run over every framework is shared by the module (TensorFlow and Keras
are slow to import). The tests that change something (a wrong documented convention, a
framework that computes another order or raises) run ``verify`` again on PyTorch alone,
which takes a fraction of a second.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import re
import sys

import pytest

import pixelshuffle as ps
from pixelshuffle import _verify

from .conftest import require

pytestmark = pytest.mark.frameworks

# verify's framework name -> the module require() imports for it (skip or fail if missing)
INSTALLABLE = {
    "torch": "torch",
    "tensorflow": "tensorflow",
    "keras": "keras",
    "dm_pix": "dm_pix",
    "onnxruntime": "onnxruntime",
    "onnx.reference": "onnx.reference",
}
# checks each must pass at least: every function × layout × direction that runs on a CPU
MIN_PASSED = {
    "torch": 4,
    "tensorflow": 6,  # NHWC eagerly, NHWC and NCHW under XLA; NCHW eagerly needs a GPU
    "keras": 4,
    "dm_pix": 2,
    "onnxruntime": 4,  # opset 13; opset 28 adds three where onnx knows it
    "onnx.reference": 4,
}
SUMMARY = re.compile(
    r"^(\d+) checks? passed, (\d+) failed(?: \((\d+) errors?\))?, (\d+) frameworks? skipped"
)


@pytest.fixture(scope="module")
def results() -> list[_verify.Result]:
    return _verify.verify()


def _rows(results, framework):
    return [result for result in results if result.framework == framework]


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    _verify.add_arguments(parser)
    return parser.parse_args(list(argv))


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


# --- the frameworks installed here match their documentation -------------------------


@pytest.mark.parametrize("framework", INSTALLABLE)
def test_installed_framework_matches_its_documentation(results, framework):
    require(INSTALLABLE[framework])
    rows = _rows(results, framework)
    assert rows, f"verify reported nothing for {framework}"
    assert not any(row.framework_skipped for row in rows), rows[0].note
    failures = [row for row in rows if row.failed]
    assert not failures, "\n" + _verify.render_table(failures)
    passed = [row for row in rows if row.status == "pass"]
    assert len(passed) >= MIN_PASSED[framework], "\n" + _verify.render_table(rows)
    assert {row.direction for row in passed} == {"up", "down"}
    for row in passed:
        assert row.matched == (row.expected,)  # one convention, and the documented one
        assert row.version
    for row in rows:
        if row.status == "skipped":
            assert row.note, "a skipped check names its reason"


def test_documented_conventions_follow_the_design():
    # design.md §2, and Keras's channels_first differing by backend
    documented = _verify.DOCUMENTED
    assert documented["torch"] == documented["paddle"] == "torch"
    assert documented["tensorflow"] == documented["dm_pix"] == "tf"
    assert (documented["onnx/DCR"], documented["onnx/CRD"], documented["onnx/default"]) == (
        "tf",
        "torch",
        "tf",
    )
    assert documented["keras/channels_last"] == "tf"
    assert {
        backend: documented[f"keras/channels_first/{backend}"]
        for backend in ("tensorflow", "openvino", "torch", "jax", "numpy")
    } == {"tensorflow": "tf", "openvino": "tf", "torch": "torch", "jax": "torch", "numpy": "torch"}
    assert documented["openvino/blocks_first"] == documented["mxnet/depth_to_space"] == "tf"
    assert documented["openvino/depth_first"] == documented["mxnet/PixelShuffle2D"] == "torch"


def test_keras_reports_its_active_backend(results):
    keras = require("keras")
    backend = keras.backend.backend()
    rows = _rows(results, "keras")
    assert {row.runtime for row in rows} == {f"{backend} backend"}
    first = [row for row in rows if row.layout == "NCHW channels_first"]
    assert len(first) == 2
    assert {row.expected for row in first} == {
        _verify.DOCUMENTED[f"keras/channels_first/{backend}"]
    }


def test_tensorflow_nchw_runs_under_xla_and_eagerly_only_on_gpu(results):
    tf = require("tensorflow")
    rows = _rows(results, "tensorflow")
    xla_nchw = [row for row in rows if row.function.endswith("(XLA)") and row.layout == "NCHW"]
    assert [row.status for row in xla_nchw] == ["pass", "pass"]
    eager_nchw = [row for row in rows if "XLA" not in row.function and row.layout == "NCHW"]
    assert len(eager_nchw) == 2
    if not tf.config.list_physical_devices("GPU"):
        for row in eager_nchw:
            assert row.status == "skipped"
            assert "GPU only" in row.note


def test_onnx_mode_opset_runs_where_onnx_knows_it(results):
    onnx = require("onnx")
    require("onnxruntime")
    rows = [
        row for row in _rows(results, "onnxruntime") if row.function.startswith("SpaceToDepth-28")
    ]
    assert len(rows) == 3
    if onnx.defs.onnx_opset_version() >= 28:
        assert {row.function: row.matched for row in rows} == {
            "SpaceToDepth-28 mode=DCR": ("tf",),
            "SpaceToDepth-28 mode=CRD": ("torch",),
            "SpaceToDepth-28 (default mode)": ("tf",),
        }
    else:
        assert {row.status for row in rows} == {"skipped"}


# --- frameworks that are not installed -------------------------------------------------


def test_uninstalled_frameworks_are_skipped_never_passed(results):
    for name in _verify.FRAMEWORKS:
        rows = _rows(results, name)
        if not _installed(name.partition(".")[0]):
            assert len(rows) == 1, rows
            assert rows[0].framework_skipped
            assert rows[0].status == "skipped"
            assert rows[0].note.startswith("not installed")
        if any(row.framework_skipped for row in rows):
            assert all(row.status == "skipped" for row in rows)
    skipped = sum(row.framework_skipped for row in results)
    match = SUMMARY.match(_verify.summarize(results))
    assert match is not None
    assert int(match.group(4)) == skipped


def test_a_framework_that_fails_to_import_is_skipped(monkeypatch):
    monkeypatch.setitem(sys.modules, "dm_pix", None)  # as if dm-pix were not installed
    (row,) = _verify.verify(["dm_pix"])
    assert row.framework == "dm_pix"
    assert row.framework_skipped
    assert not row.failed
    assert row.note.startswith("not installed")
    assert _verify.summarize([row]) == "0 checks passed, 0 failed, 1 framework skipped"


# --- the check is not vacuous -----------------------------------------------------------


def test_inputs_tell_every_order_apart():
    orders = ["".join(p) for p in itertools.permutations("chw")]
    for (factor, channels), direction, layout in itertools.product(
        _verify.CASES, ("up", "down"), ("NCHW", "NHWC")
    ):
        x = _verify.discriminating_input(direction, layout, factor, channels)
        function = ps.pixel_shuffle if direction == "up" else ps.pixel_unshuffle
        outputs = {order: function(x, factor, convention=order, layout=layout) for order in orders}
        assert len({output.tobytes() for output in outputs.values()}) == len(orders)
        for order, output in outputs.items():
            (name,) = _verify.matching_conventions(output, x, factor, direction, layout)
            assert ps.Convention(name).order_for(layout) == order


def test_a_wrong_documented_convention_is_a_failure(monkeypatch, capsys):
    require("torch")
    monkeypatch.setitem(_verify.DOCUMENTED, "torch", "tf")
    rows = _verify.verify(["torch"])
    assert rows
    for row in rows:
        assert row.status == "fail"
        assert row.matched == ("torch",)
        assert row.expected == "tf"
        assert row.note == "documented as 'tf'"
    assert _verify.run(_parse("--framework", "torch")) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out
    assert f"0 checks passed, {len(rows)} failed, 0 frameworks skipped" in out


@pytest.mark.parametrize("order", ["tf", "caffe", "whc"])
def test_a_framework_computing_another_order_fails(monkeypatch, order):
    torch = require("torch")

    def other_order(x, factor):
        return ps.pixel_shuffle(x, factor, convention=order)

    monkeypatch.setattr(torch.nn.functional, "pixel_shuffle", other_order)
    rows = [row for row in _verify.verify(["torch"]) if row.direction == "up"]
    assert rows
    for row in rows:
        assert row.status == "fail"
        assert row.matched == (order,)
        assert row.expected == "torch"


def test_a_wrong_output_shape_is_named(monkeypatch):
    torch = require("torch")
    monkeypatch.setattr(torch.nn.functional, "pixel_shuffle", lambda x, factor: x)
    row = next(row for row in _verify.verify(["torch"]) if row.direction == "up")
    assert row.status == "fail"
    assert row.matched == ()
    assert row.note.startswith(
        "factor 3: output shape (2, 18, 2, 5), expected (2, 2, 6, 15);"
        " factor 2: output shape (2, 12, 2, 5), expected (2, 3, 4, 10)"
    )


def test_an_error_in_a_framework_is_reported_not_raised(monkeypatch):
    torch = require("torch")

    def broken(x, factor):
        raise RuntimeError("no kernel for this dtype\nsecond line")

    monkeypatch.setattr(torch.nn.functional, "pixel_shuffle", broken)
    rows = _verify.verify(["torch"])
    up = [row for row in rows if row.direction == "up"]
    down = [row for row in rows if row.direction == "down"]
    assert up
    assert down
    for row in up:
        assert row.status == "error"
        assert row.failed
        assert row.note == "factor 3: RuntimeError: no kernel for this dtype"
    assert {row.status for row in down} == {"pass"}
    summary = _verify.summarize(rows)
    assert summary.startswith(f"{len(down)} checks passed, {len(up)} failed ({len(up)} errors)")


def test_classify_needs_exactly_the_documented_convention():
    assert _verify.classify(("torch",), "torch") == "pass"
    assert _verify.classify(("torch",), "crd") == "pass"  # an alias of the preset
    assert _verify.classify(("tf",), "torch") == "fail"
    assert _verify.classify(("torch", "tf"), "torch") == "fail"
    assert _verify.classify((), "torch") == "fail"
    assert _verify.classify(("torch",), None) == "fail"


# --- the command ------------------------------------------------------------------------


def test_cli_prints_the_table_and_writes_json(tmp_path, capsys):
    require("torch")
    path = tmp_path / "verify.json"
    args = _parse("--framework", "torch", "--framework", "paddle,mxnet", "--json", str(path))
    status = _verify.run(args)
    out = capsys.readouterr().out
    assert status == 0, out
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("framework"))
    assert header.split() == [
        "framework",
        "function",
        "layout",
        "direction",
        "matched",
        "expected",
        "result",
        "note",
    ]
    rows = [line for line in lines if line.startswith("torch ")]
    assert len(rows) >= 4
    assert any(
        "F.pixel_shuffle" in line and "NCHW channels_last" in line and line.split()[-1] == "pass"
        for line in rows
    )
    for name in ("paddle", "mxnet"):
        if not _installed(name):
            (line,) = [line for line in lines if line.startswith(f"{name} ")]
            assert "skipped" in line
            assert "pass" not in line.split()
    summary = next(line for line in lines if SUMMARY.match(line))
    assert int(SUMMARY.match(summary).group(2)) == 0
    assert lines[-1] == f"wrote {path}"

    report = json.loads(path.read_text(encoding="utf-8"))
    assert report["summary"]["text"] == summary
    assert report["pixelshuffle"] == ps.__version__
    frameworks = {row["framework"] for row in report["results"]}
    assert frameworks == {"torch", "paddle", "mxnet"}
    torch_rows = [row for row in report["results"] if row["framework"] == "torch"]
    assert all(row["status"] == "pass" and row["matched"] == ["torch"] for row in torch_rows)

    # an existing report is kept unless --force is given
    before = path.read_text(encoding="utf-8")
    assert _verify.run(args) == 2
    assert "exists" in capsys.readouterr().err
    assert path.read_text(encoding="utf-8") == before
    assert _verify.run(_parse("--framework", "torch", "--json", str(path), "--force")) == 0
    assert {row["framework"] for row in json.loads(path.read_text())["results"]} == {"torch"}


def test_cli_rejects_an_unknown_framework(capsys):
    assert _verify.run(_parse("--framework", "caffe2")) == 2
    err = capsys.readouterr().err
    assert "unknown framework 'caffe2'" in err
    assert "torch, tensorflow, keras" in err
    with pytest.raises(ps.PixelShuffleError, match="unknown framework 'caffe2'"):
        _verify.verify(["caffe2"])


def test_framework_names_and_aliases():
    assert _verify._select(None) == list(_verify.FRAMEWORKS)
    assert _verify._select(["ONNX", "pytorch"]) == ["torch", "onnxruntime", "onnx.reference"]
    assert _verify._select("tf") == ["tensorflow"]
    assert _verify._select([]) == []
