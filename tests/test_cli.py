"""The command line program: `pixelshuffle show`."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pixelshuffle._cli import main


def _show(capsys, *args):
    status = main(["show", *args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_show_default_reproduces_the_article(capsys):
    status, out, _ = _show(capsys)
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == (
        "pixel_shuffle of a 27-channel input whose channel k holds k+1, factor 3×3, layout NCHW"
    )
    # channel 0 of torch | tf | caffe, side by side
    assert "channel 0     1  2  3     1  4  7     1  4  7" in lines
    assert "              4  5  6    10 13 16     2  5  8" in lines
    assert "              7  8  9    19 22 25     3  6  9" in lines
    assert "channel 2    19 20 21     3  6  9    19 22 25" in lines
    header = next(line for line in lines if "torch" in line and "caffe" in line)
    assert header.split() == ["torch", "tf", "caffe"]


def test_show_options(capsys):
    status, out, _ = _show(
        capsys, "--factor", "2,3", "--channels", "2", "--convention", "tf,whc", "--layout", "NHWC"
    )
    assert status == 0
    assert "factor 2×3, layout NHWC" in out
    assert "channel 0     1  3  5     1  5  9" in out.splitlines()
    assert "channel 1     2  4  6     2  6 10" in out.splitlines()


def test_show_png(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    target = tmp_path / "conventions.png"
    status, out, _ = _show(capsys, "--png", str(target))
    assert status == 0
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert target.stat().st_size > 10_000
    assert f"wrote {target}" in out


def test_show_png_without_matplotlib(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    status, _, err = _show(capsys, "--png", str(tmp_path / "x.png"))
    assert status == 2
    assert "writing a PNG needs matplotlib: pip install 'pixelshuffle[plot]'" in err


def test_show_reports_library_errors(capsys):
    status, _, err = _show(capsys, "--convention", "tf,pytoch")
    assert status == 2
    assert "unknown convention 'pytoch'" in err
    assert "did you mean 'pytorch'?" in err
    status, _, err = _show(capsys, "--layout", "NCHW", "--factor", "2,2,2")
    assert status == 2
    assert "factor (2, 2, 2) has 3 values but layout 'NCHW' has 2 spatial axes" in err


def test_bad_factor_text_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["show", "--factor", "two"])
    assert exit_info.value.code == 2
    assert "expected an int or one int per spatial axis" in capsys.readouterr().err


def test_python_dash_m():
    result = subprocess.run(
        [sys.executable, "-m", "pixelshuffle", "show", "--factor", "2", "--channels", "2"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "channel 1    5 6      2 4      5 7" in result.stdout.splitlines()
    version = subprocess.run(
        [sys.executable, "-m", "pixelshuffle", "--version"], capture_output=True, text=True
    )
    assert version.stdout.startswith("pixelshuffle ")


def test_show_png_never_overwrites_unless_forced(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    target = tmp_path / "existing.png"
    target.write_bytes(b"keep me")
    with pytest.raises(SystemExit) as exit_info:
        main(["show", "--png", str(target)])
    assert exit_info.value.code == 2
    assert f"{target} exists; pass --force to overwrite it" in capsys.readouterr().err
    assert target.read_bytes() == b"keep me"
    assert main(["show", "--png", str(target), "--force"]) == 0
    assert target.read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing.png"]


def test_show_png_into_a_missing_folder(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    status, _, err = _show(capsys, "--png", str(tmp_path / "missing" / "x.png"))
    assert status == 2
    assert "pixelshuffle show: error:" in err


def test_show_refuses_huge_demonstrations(capsys):
    with pytest.raises(SystemExit):
        main(["show", "--factor", "100000", "--channels", "1"])
    assert "the demonstration shows at most 10000 values" in capsys.readouterr().err
