"""The README's Python examples run, and its sample output is what `show` prints."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pixelshuffle._cli import main

from .conftest import require

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCS = {
    path.name: path.read_text(encoding="utf-8") for path in sorted((ROOT / "docs").glob("*.md"))
}


def _blocks(language: str, text: str = README) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


PYTHON_BLOCKS = [
    pytest.param(block, id=f"{name}-{index}")
    for name, text in {"README.md": README, **DOCS}.items()
    for index, block in enumerate(_blocks("python", text))
]


@pytest.mark.parametrize("block", PYTHON_BLOCKS)
def test_python_blocks_run(block):
    if "torch" in block:
        require("torch")
    if "torch.onnx" in block:
        for name in ("onnx", "onnxruntime", "onnxscript"):
            require(name)
    exec(compile(block, "markdown python block", "exec"), {})


def test_console_sample_is_real_output(capsys):
    sample = _blocks("console")[0].splitlines()
    assert sample[0] == "$ ./run.sh show"
    main(["show"])
    printed = capsys.readouterr().out.splitlines()
    shown = [line for line in sample[1:] if line != "..."]
    assert printed[: len(shown)] == shown
