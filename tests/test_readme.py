"""The README's Python examples run, and its sample output is what `show` prints."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pixelshuffle._cli import main

from .conftest import require

README = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


@pytest.mark.parametrize("index", range(len(_blocks("python"))))
def test_python_blocks_run(index):
    block = _blocks("python")[index]
    if "torch" in block:
        require("torch")
    if "torch.onnx" in block:
        for name in ("onnx", "onnxruntime", "onnxscript"):
            require(name)
    exec(compile(block, f"README.md python block {index}", "exec"), {})


def test_console_sample_is_real_output(capsys):
    sample = _blocks("console")[0].splitlines()
    assert sample[0] == "$ ./run.sh show"
    main(["show"])
    printed = capsys.readouterr().out.splitlines()
    shown = [line for line in sample[1:] if line != "..."]
    assert printed[: len(shown)] == shown
