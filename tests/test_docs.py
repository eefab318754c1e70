"""The documentation site builds with ``mkdocs build --strict`` and documents the public API.

A broken link, a missing page or image, or a docstring that mkdocstrings cannot render
fails the strict build. The site is built into ``tmp_path``, never into the repository.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import pixelshuffle

from .conftest import require

pytestmark = pytest.mark.frameworks

ROOT = Path(__file__).parents[1]
DOCS = ROOT / "docs"


def _directives() -> set[str]:
    """Every object that an API page renders with ``::: name``."""
    text = "\n".join(path.read_text(encoding="utf-8") for path in (DOCS / "api").glob("*.md"))
    return set(re.findall(r"^::: *(\S+)", text, flags=re.MULTILINE))


def _nn_all() -> list[str]:
    # read from the source, so that this check needs no torch
    tree = ast.parse((ROOT / "src" / "pixelshuffle" / "nn.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "__all__" for target in node.targets
        ):
            return list(ast.literal_eval(node.value))
    raise AssertionError("pixelshuffle/nn.py has no __all__")


def test_api_pages_cover_the_public_surface():
    rendered = _directives()
    public = [f"pixelshuffle.{name}" for name in pixelshuffle.__all__]
    public += [f"pixelshuffle.nn.{name}" for name in _nn_all()]
    missing = [name for name in public if name not in rendered]
    assert not missing, f"no API page renders {missing}; add `::: name` to docs/api/*.md"


def test_home_page_sample_is_the_readme_sample():
    # tests/test_readme.py checks the README's sample against `show`; the home page copies it
    def sample(text: str) -> str:
        return re.findall(r"```console\n(.*?)```", text, flags=re.DOTALL)[0]

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    home = (DOCS / "index.md").read_text(encoding="utf-8")
    assert sample(home) == sample(readme)


def test_site_builds_strict(tmp_path):
    require("mkdocs")
    require("mkdocstrings")
    site = tmp_path / "site"
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)]
    result = subprocess.run(
        [*command, "--config-file", str(ROOT / "mkdocs.yml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stderr}{result.stdout}"

    ops = (site / "api" / "ops" / "index.html").read_text(encoding="utf-8")
    assert 'id="pixelshuffle.pixel_shuffle"' in ops
    nn = (site / "api" / "nn" / "index.html").read_text(encoding="utf-8")
    assert 'id="pixelshuffle.nn.SubPixelConv"' in nn
    # docs/griffe_docstrings.py: `Example:` doctests render as code, not as Markdown quotes,
    # and Sphinx roles as links or code, not as ":func:" text
    for page in (ops, nn):
        assert '<span class="gp">&gt;&gt;&gt; </span>' in page  # a highlighted prompt
        assert "<blockquote>" not in page
        assert not re.search(r":(func|class|data|meth|mod):`", page)
