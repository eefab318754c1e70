"""Plans: how a shuffle, unshuffle or conversion becomes one reshape, transpose, reshape.

The index arithmetic of the whole library lives here. Every axis the op touches is
split into *symbols*: ``c`` (the output channel), ``o<m>`` (the block offset along
spatial axis ``m``, radix = factor ``m``) and ``s<m>`` (the coarse position along
spatial axis ``m``). The depth form of an array has the channel axis split into the
digits of a convention, most significant first; the space form has each spatial axis
split into ``(s<m>, o<m>)``. An op maps one form to the other, which is a transpose of
the symbols. A plan depends only on the convention(s), layout, factors and direction,
so it is computed once and cached.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ._layout import Layout
from ._memo import memoize

__all__ = ["Plan", "build_plan", "inverse_plan"]

Direction = Literal["shuffle", "unshuffle", "convert"]
_Group = tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    """A reshape/transpose/reshape recipe for the last ``n_axes`` axes of an array.

    ``in_groups[k]`` lists the symbols that input axis ``k`` splits into (most
    significant first), ``out_groups`` the same for the output. ``split_blocks`` are
    the runs of symbols that move together, in input order, and ``perm`` the transpose
    over them, so that the op is::

        x.reshape(batch + split_shape).transpose(batch + perm).reshape(batch + out_shape)
    """

    factors: tuple[int, ...]
    in_groups: tuple[_Group, ...]
    out_groups: tuple[_Group, ...]
    split_blocks: tuple[_Group, ...]
    perm: tuple[int, ...]

    @property
    def n_axes(self) -> int:
        return len(self.in_groups)

    @property
    def moves_data(self) -> bool:
        """False when the transpose is the identity (factor 1, or ``src == dst``)."""
        return self.perm != tuple(range(len(self.perm)))

    def shapes(self, trailing: Sequence[Any]) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        """The split shape (blocks in input order) and the output shape for the trailing
        axes ``trailing`` of the input, which must already be known to be divisible.

        Sizes may be symbolic (``torch.SymInt``): only ``//`` and ``*`` are applied.
        """
        # plain loops: torch.compile traces this and cannot trace math.prod of a generator
        size: dict[str, Any] = {}
        for m, f in enumerate(self.factors):
            size[f"o{m}"] = f
        for group, extent in zip(self.in_groups, trailing):
            known = 1
            for symbol in group:
                if symbol[0] == "o":
                    known *= size[symbol]
            for symbol in group:
                if symbol[0] != "o":
                    size[symbol] = extent // known
        return (
            tuple(_product(size, block) for block in self.split_blocks),
            tuple(_product(size, group) for group in self.out_groups),
        )


def _product(size: dict[str, Any], symbols: _Group) -> Any:
    total = 1
    for symbol in symbols:
        total = total * size[symbol]
    return total


@memoize(maxsize=1024)
def build_plan(
    direction: Direction,
    layout: Layout,
    factors: tuple[int, ...],
    order: str,
    dst_order: str | None = None,
) -> Plan:
    """Plan ``direction`` for ``layout`` and ``factors``.

    ``order`` is the depth-channel digit order (e.g. ``'hwc'``); for ``'convert'`` it is
    the source order and ``dst_order`` the destination order.
    """
    letters = layout.spatial.lower()
    depth = _arrange(layout, _digits(order, letters), [(f"s{m}",) for m in range(layout.rank)])
    space = _arrange(layout, ("c",), [(f"s{m}", f"o{m}") for m in range(layout.rank)])
    if direction == "shuffle":
        in_groups, out_groups = depth, space
    elif direction == "unshuffle":
        in_groups, out_groups = space, depth
    else:
        assert dst_order is not None
        dst = _digits(dst_order, letters)
        in_groups = depth
        out_groups = _arrange(layout, dst, [(f"s{m}",) for m in range(layout.rank)])

    # A block offset of radix 1 is a size-1 axis: it never needs to move.
    unit = {f"o{m}" for m, f in enumerate(factors) if f == 1}
    in_groups = tuple(tuple(s for s in g if s not in unit) for g in in_groups)
    out_groups = tuple(tuple(s for s in g if s not in unit) for g in out_groups)
    split_blocks, perm = _blocks_and_perm(in_groups, out_groups)
    return Plan(factors, in_groups, out_groups, split_blocks, perm)


@memoize(maxsize=1024)
def inverse_plan(plan: Plan) -> Plan:
    """The plan that undoes ``plan``: the backward of an op is its inverse applied to the
    incoming gradient."""
    split_blocks, perm = _blocks_and_perm(plan.out_groups, plan.in_groups)
    return Plan(plan.factors, plan.out_groups, plan.in_groups, split_blocks, perm)


def _digits(order: str, letters: str) -> tuple[str, ...]:
    return tuple("c" if d == "c" else f"o{letters.index(d)}" for d in order)


def _arrange(
    layout: Layout, channel: tuple[str, ...], spatial: list[tuple[str, ...]]
) -> tuple[_Group, ...]:
    return (*spatial, channel) if layout.channels_last else (channel, *spatial)


def _blocks_and_perm(
    in_groups: tuple[_Group, ...], out_groups: tuple[_Group, ...]
) -> tuple[tuple[_Group, ...], tuple[int, ...]]:
    """Fuse symbols that stay adjacent, within one input axis and one output axis.

    Fusing only within axes keeps the first reshape a pure split (always a view, even
    of a strided array) and the last a pure merge of output axes.
    """
    where = {s: (axis, pos) for axis, g in enumerate(in_groups) for pos, s in enumerate(g)}
    blocks: list[list[str]] = []
    for group in out_groups:
        previous = None
        for symbol in group:
            axis, pos = where[symbol]
            if previous is not None and previous == (axis, pos - 1):
                blocks[-1].append(symbol)
            else:
                blocks.append([symbol])
            previous = (axis, pos)
    # blocks are found in output order; the transpose reads them in input order
    input_order = sorted(range(len(blocks)), key=lambda i: where[blocks[i][0]])
    position = {block: rank for rank, block in enumerate(input_order)}
    perm = tuple(position[i] for i in range(len(blocks)))
    return tuple(tuple(blocks[i]) for i in input_order), perm
