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
from dataclasses import dataclass, field
from typing import Any, Literal

from ._layout import Layout
from ._memo import memoize

__all__ = ["Plan", "build_plan", "inverse_plan"]

Direction = Literal["shuffle", "unshuffle", "convert"]
_Group = tuple[str, ...]
_Rule = tuple[int, int, int]  # (input axis or -1, divisor, multiplier)


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
    # how shapes() sizes the split blocks and the output axes; derived from the rest
    rules: tuple[tuple[_Rule, ...], tuple[_Rule, ...]] = field(
        default=((), ()), compare=False, repr=False
    )

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
        # plain loops over precomputed rules: this runs on every call, and
        # torch.compile traces it (it cannot trace math.prod of a generator)
        split = []
        for axis, divisor, multiplier in self.rules[0]:
            split.append(multiplier if axis < 0 else trailing[axis] // divisor * multiplier)
        out = []
        for axis, divisor, multiplier in self.rules[1]:
            out.append(multiplier if axis < 0 else trailing[axis] // divisor * multiplier)
        return tuple(split), tuple(out)


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
    return _make_plan(factors, in_groups, out_groups)


@memoize(maxsize=1024)
def inverse_plan(plan: Plan) -> Plan:
    """The plan that undoes ``plan``: the backward of an op is its inverse applied to the
    incoming gradient."""
    return _make_plan(plan.factors, plan.out_groups, plan.in_groups)


def _make_plan(
    factors: tuple[int, ...], in_groups: tuple[_Group, ...], out_groups: tuple[_Group, ...]
) -> Plan:
    split_blocks, perm = _blocks_and_perm(in_groups, out_groups)
    rules = (_rules(factors, in_groups, split_blocks), _rules(factors, in_groups, out_groups))
    return Plan(factors, in_groups, out_groups, split_blocks, perm, rules)


def _rules(
    factors: tuple[int, ...], in_groups: tuple[_Group, ...], groups: tuple[_Group, ...]
) -> tuple[_Rule, ...]:
    """For every group, its size as ``trailing[axis] // divisor * multiplier`` (``axis``
    -1: just ``multiplier``). A group holds at most one coarse symbol (``c`` or
    ``s<m>``), whose size is its input axis over the factors sharing that axis."""
    # plain loops: torch.compile traces this when it plans inside a compiled function,
    # and cannot trace math.prod of a generator
    factor = {f"o{m}": f for m, f in enumerate(factors)}
    home = {s: k for k, group in enumerate(in_groups) for s in group if s not in factor}
    divisor = [_product_of_factors(group, factor) for group in in_groups]
    rules = []
    for group in groups:
        multiplier = _product_of_factors(group, factor)
        coarse = [s for s in group if s not in factor]
        if coarse:
            (symbol,) = coarse
            rules.append((home[symbol], divisor[home[symbol]], multiplier))
        else:
            rules.append((-1, 1, multiplier))
    return tuple(rules)


def _product_of_factors(group: _Group, factor: dict[str, int]) -> int:
    total = 1
    for symbol in group:
        total *= factor.get(symbol, 1)
    return total


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
