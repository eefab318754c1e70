"""``convert_model``: switch every shuffle of a PyTorch model to another convention,
porting the weights around it so that the model computes exactly what it did.

The model is traced with ``torch.fx``. For an upsampling shuffle the pass walks back
from its input to the layer that produces the depth channels; for a downsampling
shuffle it walks forward to the layer that reads them. On the way it accepts only
layers that treat channels independently (activations, dropout, scalar arithmetic) or
per channel (BatchNorm, InstanceNorm, GroupNorm within groups, PReLU), whose parameters
it permutes too. Everything else is refused before anything is changed.
"""

from __future__ import annotations

import copy
import operator
from dataclasses import dataclass, field
from typing import Any

from ._convention import Convention, parse_convention
from ._errors import PixelShuffleError, PixelShuffleTypeError
from ._ops import ConventionLike, channel_permutation
from ._weights import check_groups

__all__ = ["convert_model"]


def convert_model(
    model: Any, dst: ConventionLike, *, inplace: bool = False, native: bool = True
) -> Any:
    """``model`` with every pixel shuffle in convention ``dst`` and its weights ported.

    Every ``pixelshuffle.nn.PixelShuffle``/``PixelUnshuffle`` and every
    ``torch.nn.PixelShuffle``/``PixelUnshuffle`` (convention ``torch``) that ``forward``
    calls is switched to ``dst``. For an upsampling shuffle the output channels of the
    ``Conv*d``/``ConvTranspose*d`` that produces its input are permuted, and so are the
    parameters of per-channel layers in between; for a downsampling shuffle, the input
    channels of the ``Conv*d``/``ConvTranspose*d`` that reads it (and per-channel layers
    in between). The converted model computes the same function.

    With ``native=True`` a shuffle that PyTorch has (``torch`` order, NCHW, one factor)
    becomes ``torch.nn.PixelShuffle``/``PixelUnshuffle``; otherwise
    ``pixelshuffle.nn`` modules in ``dst`` are used.

    Refused with a :class:`PixelShuffleError` naming the layer, before anything changes:
    a shuffle fed by the model's input or by a layer that mixes channels in another way,
    an intermediate output used twice, a layer called twice or sharing parameters, a
    grouped layer whose channels would leave their groups, or a model ``torch.fx``
    cannot trace. Port such layers with :func:`pixelshuffle.nn.permute_outputs_` and
    :func:`pixelshuffle.nn.permute_inputs_`.

    Args:
        model: a ``torch.nn.Module``.
        dst: the convention to switch to (``'torch'``, ``'tf'``, ``'caffe'``, an alias or
            an order string).
        inplace: change ``model`` itself instead of a deep copy.
        native: prefer PyTorch's own modules where they compute ``dst``.

    Example:
        >>> import torch
        >>> import pixelshuffle as ps
        >>> model = torch.nn.Sequential(
        ...     torch.nn.Conv2d(3, 2 * 9, 3, padding=1), torch.nn.BatchNorm2d(18),
        ...     torch.nn.ReLU(), ps.nn.PixelShuffle(3, convention="tf")).eval()
        >>> ported = ps.convert_model(model, "torch")
        >>> ported[3]
        PixelShuffle(upscale_factor=3)
        >>> x = torch.randn(2, 3, 4, 5)
        >>> torch.allclose(ported(x), model(x), atol=1e-6)
        True
    """
    try:
        import torch
    except ImportError as error:  # pragma: no cover - needs an environment without torch
        raise ImportError(
            "convert_model needs PyTorch: pip install 'pixelshuffle[torch]'"
        ) from error
    where = f"convert_model(dst={_show(dst)})"
    if not isinstance(model, torch.nn.Module):
        raise PixelShuffleTypeError(
            f"{where}: expected a torch.nn.Module, got {type(model).__module__}."
            f"{type(model).__qualname__}"
        )
    try:
        target = parse_convention(dst)
    except PixelShuffleError as error:
        raise type(error)(f"{where}: {error}") from None
    if not inplace:
        model = copy.deepcopy(model)
    graph = _trace(model, where)
    modules = dict(model.named_modules())
    _refuse_shared_parameters(model, where)
    calls: dict[str, int] = {}
    for node in graph.nodes:
        if node.op == "call_module":
            calls[node.target] = calls.get(node.target, 0) + 1

    # Plan every change first, so that a refusal leaves the model untouched.
    changes = [
        _plan_change(node, modules, calls, target, native, where)
        for node in graph.nodes
        if node.op == "call_module" and _shuffle_of(modules[node.target]) is not None
    ]
    with torch.no_grad():
        for change in changes:
            change.apply(model)
    return model


@dataclass(frozen=True)
class _Shuffle:
    direction: str  # "shuffle" or "unshuffle"
    factor: int | tuple[int, ...]
    convention: str
    layout: str


@dataclass
class _Change:
    name: str
    replacement: Any
    order: Any = None
    outputs: list[Any] = field(default_factory=list)  # layers whose outputs are permuted
    inputs: list[Any] = field(default_factory=list)  # layers whose inputs are permuted

    def apply(self, model: Any) -> None:
        for layer in self.outputs:
            _permute(layer, self.order, "outputs")
        for layer in self.inputs:
            _permute(layer, self.order, "inputs")
        parent_name, _, child = self.name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, self.replacement)


def _shuffle_of(module: Any) -> _Shuffle | None:
    import torch

    from . import nn as ps_nn

    if isinstance(module, ps_nn.PixelShuffle):
        return _Shuffle("shuffle", module.factor, module.convention, module.layout)
    if isinstance(module, ps_nn.PixelUnshuffle):
        return _Shuffle("unshuffle", module.factor, module.convention, module.layout)
    if isinstance(module, torch.nn.PixelShuffle):
        return _Shuffle("shuffle", module.upscale_factor, "torch", "NCHW")
    if isinstance(module, torch.nn.PixelUnshuffle):
        return _Shuffle("unshuffle", module.downscale_factor, "torch", "NCHW")
    return None


def _replacement(shuffle: _Shuffle, dst: Convention, native: bool) -> Any:
    import torch

    from . import nn as ps_nn

    square = isinstance(shuffle.factor, int) or len(set(shuffle.factor)) == 1
    if native and shuffle.layout == "NCHW" and square and dst.equivalent("torch", layout="NCHW"):
        factor = shuffle.factor if isinstance(shuffle.factor, int) else shuffle.factor[0]
        if shuffle.direction == "shuffle":
            return torch.nn.PixelShuffle(factor)
        return torch.nn.PixelUnshuffle(factor)
    cls = ps_nn.PixelShuffle if shuffle.direction == "shuffle" else ps_nn.PixelUnshuffle
    return cls(shuffle.factor, convention=dst, layout=shuffle.layout)


def _plan_change(
    node: Any,
    modules: dict[str, Any],
    calls: dict[str, int],
    dst: Convention,
    native: bool,
    where: str,
) -> _Change:
    name = node.target
    shuffle = _shuffle_of(modules[name])
    assert shuffle is not None
    change = _Change(name, _replacement(shuffle, dst, native))
    if dst.equivalent(shuffle.convention, layout=shuffle.layout):
        return change  # the same order: only the module changes
    if calls[name] > 1:
        raise PixelShuffleError(
            f"{where}: shuffle {name!r} is called {calls[name]} times; each call would need"
            " its own ported layers"
        )
    if shuffle.direction == "shuffle":
        channels, change.outputs = _walk_to_producer(node, modules, calls, name, where)
    else:
        channels, change.inputs, change.outputs = _walk_to_consumer(
            node, modules, calls, name, where
        )
    try:
        change.order = channel_permutation(
            channels, shuffle.factor, src=shuffle.convention, dst=dst, layout=shuffle.layout
        )
    except PixelShuffleError as error:
        raise PixelShuffleError(f"{where}: shuffle {name!r}: {error}") from None
    for layer in change.outputs:
        _check_groups(layer, change.order, modules, where)
    for layer in change.inputs:
        _check_groups(layer, change.order, modules, where)
    return change


def _walk_to_producer(
    node: Any, modules: dict[str, Any], calls: dict[str, int], name: str, where: str
) -> tuple[int, list[Any]]:
    """The depth channel count and the layers to port, producer last."""
    chain: list[Any] = []
    current = node.args[0]
    while True:
        what = _describe(current, modules)
        if current.op == "placeholder":
            raise PixelShuffleError(
                f"{where}: shuffle {name!r} reads the model's input {current.target!r}; there"
                " is no layer whose outputs could be ported"
            )
        if len(current.users) > 1:
            users = ", ".join(sorted(_describe(user, modules) for user in current.users))
            raise PixelShuffleError(
                f"{where}: shuffle {name!r}: the output of {what} also feeds {users}, which"
                " would see permuted channels"
            )
        layer = _layer_called_once(current, modules, calls, f"{where}: shuffle {name!r}")
        if layer is not None and _is_producer(layer):
            chain.append(layer)
            return _channels(layer, "outputs"), chain
        if layer is not None and _is_per_channel(layer):
            chain.append(layer)
        elif not _is_channelwise(current, layer):
            raise PixelShuffleError(
                f"{where}: shuffle {name!r} is fed by {what}, which is not a Conv*d or"
                " ConvTranspose*d and does not treat channels independently; port the layer"
                " that produces its channels with pixelshuffle.nn.permute_outputs_"
            )
        current = current.args[0]


def _walk_to_consumer(
    node: Any, modules: dict[str, Any], calls: dict[str, int], name: str, where: str
) -> tuple[int, list[Any], list[Any]]:
    """The depth channel count, the consumer, and per-channel layers on the way."""
    per_channel: list[Any] = []
    current = node
    while True:
        users = list(current.users)
        if len(users) != 1:
            listed = ", ".join(sorted(_describe(user, modules) for user in users)) or "nothing"
            raise PixelShuffleError(
                f"{where}: unshuffle {name!r}: the output of {_describe(current, modules)} goes"
                f" to {listed}; exactly one layer must read it to be ported"
            )
        (current,) = users
        what = _describe(current, modules)
        if current.op == "output":
            raise PixelShuffleError(
                f"{where}: unshuffle {name!r} feeds the model's output; there is no layer"
                " whose inputs could be ported"
            )
        layer = _layer_called_once(current, modules, calls, f"{where}: unshuffle {name!r}")
        if layer is not None and _is_producer(layer):
            return _channels(layer, "inputs"), [layer], per_channel
        if layer is not None and _is_per_channel(layer):
            per_channel.append(layer)
        elif not _is_channelwise(current, layer):
            raise PixelShuffleError(
                f"{where}: unshuffle {name!r} is read by {what}, which is not a Conv*d or"
                " ConvTranspose*d and does not treat channels independently; port the layer"
                " that reads its channels with pixelshuffle.nn.permute_inputs_"
            )


def _layer_called_once(
    node: Any, modules: dict[str, Any], calls: dict[str, int], context: str
) -> Any:
    """The module ``node`` calls (``None`` for functions and methods); refused when the
    graph calls it more than once, since porting it would change its other calls too."""
    if node.op != "call_module":
        return None
    if calls[node.target] > 1:
        raise PixelShuffleError(
            f"{context}: {_describe(node, modules)} is called {calls[node.target]} times;"
            " porting it would change its other calls"
        )
    return modules[node.target]


def _trace(model: Any, where: str) -> Any:
    import torch.fx

    from . import nn as ps_nn

    class _Tracer(torch.fx.Tracer):
        def is_leaf_module(self, module: Any, qualified_name: str) -> bool:
            if isinstance(module, (ps_nn.PixelShuffle, ps_nn.PixelUnshuffle)):
                return True
            return super().is_leaf_module(module, qualified_name)

    try:
        return _Tracer().trace(model)
    except Exception as error:  # fx raises many kinds; all mean "cannot see the graph"
        raise PixelShuffleError(
            f"{where}: torch.fx cannot trace {type(model).__name__} ({type(error).__name__}:"
            f" {error}); port its layers with pixelshuffle.nn.permute_outputs_ and"
            " permute_inputs_ instead"
        ) from error


def _refuse_shared_parameters(model: Any, where: str) -> None:
    owners: dict[int, str] = {}
    for name, parameter in model.named_parameters(remove_duplicate=False):
        owner = name.rpartition(".")[0]
        first = owners.setdefault(id(parameter), owner)
        if first != owner:
            raise PixelShuffleError(
                f"{where}: {first!r} and {owner!r} share a parameter; porting one would"
                " change the other"
            )


def _is_producer(layer: Any) -> bool:
    import torch.nn as nn

    return isinstance(
        layer,
        (
            nn.Conv1d,
            nn.Conv2d,
            nn.Conv3d,
            nn.ConvTranspose1d,
            nn.ConvTranspose2d,
            nn.ConvTranspose3d,
        ),
    )


def _is_per_channel(layer: Any) -> bool:
    import torch.nn as nn

    return isinstance(layer, (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.PReLU))


def _channelwise_modules() -> tuple[type, ...]:
    import torch.nn as nn

    return (
        nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.CELU, nn.SELU, nn.GELU, nn.SiLU, nn.Mish,
        nn.Hardswish, nn.Hardsigmoid, nn.Hardtanh, nn.Sigmoid, nn.Tanh, nn.Softplus,
        nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
    )  # fmt: skip


def _channelwise_functions() -> set[Any]:
    import torch
    import torch.nn.functional as F

    return {
        F.relu, F.relu6, F.leaky_relu, F.elu, F.gelu, F.silu, F.mish, F.hardswish,
        F.hardtanh, F.sigmoid, F.tanh, F.softplus, F.dropout, torch.relu, torch.sigmoid,
        torch.tanh, operator.mul, operator.add, operator.sub, operator.truediv, torch.mul,
        torch.add, torch.sub, torch.div, torch.clamp,
    }  # fmt: skip


_CHANNELWISE_METHODS = {
    "relu",
    "sigmoid",
    "tanh",
    "clamp",
    "mul",
    "add",
    "sub",
    "div",
    "contiguous",
}


def _is_channelwise(node: Any, layer: Any) -> bool:
    """Whether ``node`` acts on each element (or channel-independently) of one tensor:
    a unary activation, or arithmetic with a Python number."""
    if layer is not None:
        return isinstance(layer, _channelwise_modules())
    known = (node.op == "call_function" and node.target in _channelwise_functions()) or (
        node.op == "call_method" and node.target in _CHANNELWISE_METHODS
    )
    if not known:
        return False
    others = [*node.args[1:], *node.kwargs.values()]
    return all(not hasattr(other, "op") for other in others)  # no second tensor


def _describe(node: Any, modules: dict[str, Any]) -> str:
    if node.op == "call_module":
        return f"{node.target!r} ({type(modules[node.target]).__name__})"
    if node.op == "call_function":
        return f"{getattr(node.target, '__name__', node.target)}() ({node.name})"
    if node.op == "call_method":
        return f".{node.target}() ({node.name})"
    return f"{node.op} {node.name!r}"


def _channels(layer: Any, side: str) -> int:
    return int(layer.out_channels if side == "outputs" else layer.in_channels)


def _check_groups(layer: Any, order: Any, modules: dict[str, Any], where: str) -> None:
    groups = getattr(layer, "groups", None) or getattr(layer, "num_groups", 1)
    name = next(name for name, module in modules.items() if module is layer)
    check_groups(order, groups, f"{where}: {name!r} ({type(layer).__name__}) has {groups} groups")


def _permute(layer: Any, order: Any, side: str) -> None:
    import torch

    from ._weights import _permute_conv, permute_channel_tensors

    nn = torch.nn
    if _is_producer(layer):
        transposed = isinstance(layer, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d))
        _permute_conv(layer, order, side, transposed, "convert_model")  # type: ignore[arg-type]
    elif not (isinstance(layer, nn.PReLU) and layer.num_parameters == 1):  # one shared slope
        permute_channel_tensors(layer, order)


def _show(value: object) -> str:
    return repr(value.spec if isinstance(value, Convention) else value)
