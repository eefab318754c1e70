"""A griffe extension for the documentation site: read the docstrings as the code base writes them.

The docstrings follow the Google style with two habits that griffe's Google parser does
not know; this extension rewrites them before a docstring is parsed (the source stays as
it is). Loaded by mkdocs.yml (``plugins: mkdocstrings: handlers: python: options:
extensions``).

- ``Example:`` (singular, which Sphinx's napoleon accepts as a section) heads the
  doctests. Griffe knows only ``Examples:`` as a section and reads ``Example:`` as an
  admonition, which renders the ``>>>`` lines as Markdown block quotes and their outputs
  (``[2, 2]``) as broken reference links. It is renamed ``Examples:``.
- Sphinx roles (``:func:`pixel_shuffle```, ``:class:`pixelshuffle.Convention```) become
  cross-references where they name a public object documented on the site (relative
  names are resolved in the docstring's scope, as Sphinx does), and code spans otherwise
  (``torch.nn.functional.pixel_shuffle``, ``ValueError``, private helpers), so that a
  reference to something the site does not document never breaks ``--strict``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import griffe

_EXAMPLE_HEADING = re.compile(r"^(?P<indent>[ \t]*)Example:[ \t]*$", flags=re.MULTILINE)
_ROLE = re.compile(r":(?:func|meth|class|data|attr|mod|obj|exc):`(?P<target>[^`]+)`")
# the modules whose __all__ is the public surface that the API pages render
_PUBLIC_MODULES = ("pixelshuffle", "pixelshuffle.nn")


class DocstringHabits(griffe.Extension):
    """Rename ``Example:`` headings to ``Examples:`` and turn Sphinx roles into links."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        if pkg.path != "pixelshuffle":
            return
        public = _public_objects(pkg)
        for obj in _walk(pkg):
            if obj.docstring is not None:
                obj.docstring.value = _rewrite(obj, obj.docstring.value, public)


def _rewrite(obj: griffe.Object, text: str, public: dict[str, str]) -> str:
    text = _EXAMPLE_HEADING.sub(r"\g<indent>Examples:", text)
    return _ROLE.sub(lambda match: _reference(obj, match, public), text)


def _walk(obj: griffe.Object) -> Iterator[griffe.Object]:
    yield obj
    for member in obj.members.values():
        if not member.is_alias:
            yield from _walk(member)  # type: ignore[arg-type]


def _public_objects(pkg: griffe.Module) -> dict[str, str]:
    """Canonical path -> public path of every object the API pages render with a heading.

    The modules themselves are rendered without one, so a ``:mod:`` role stays a code span.
    """
    public: dict[str, str] = {}
    for module_path in _PUBLIC_MODULES:
        module = pkg.modules_collection[module_path]
        for name in module.exports or ():
            try:
                target = module[name]
            except (KeyError, griffe.AliasResolutionError):
                continue
            public_path = f"{module_path}.{name}"
            public[target.canonical_path] = public_path
            if target.is_class:
                # members with a docstring are rendered under the class (filters: "!^_")
                for member_name, member in target.members.items():
                    if not member_name.startswith("_") and member.docstring is not None:
                        public[member.canonical_path] = f"{public_path}.{member_name}"
    return public


def _reference(obj: griffe.Object, match: re.Match[str], public: dict[str, str]) -> str:
    target = match["target"].lstrip("~.")
    shown = match["target"].rpartition(".")[2] if match["target"].startswith("~") else target
    if target in public.values():
        return f"[`{shown}`][{target}]"
    try:
        canonical = obj.resolve(target)
    except (griffe.NameResolutionError, griffe.AliasResolutionError, KeyError):
        canonical = target
    if canonical in public:
        return f"[`{shown}`][{public[canonical]}]"
    return f"`{shown}`"
