"""``pixelshuffle convert``: port a PyTorch checkpoint between conventions.

A checkpoint is a state_dict (``.pt``/``.pth`` read with ``torch.load(...,
weights_only=True)``, or ``.safetensors``), possibly nested in a dict under a key such
as ``"state_dict"``. Named layers get their depth channels permuted:

========================  ===========================================================
role                      tensors under the layer's name, and the axis permuted
========================  ===========================================================
``outputs``               ``weight`` axis 0, ``bias`` axis 0: a Conv*d or Linear that
                          feeds an upsampling shuffle
``outputs-transposed``    ``weight`` axis 1, ``bias`` axis 0: a ConvTranspose*d that
                          feeds an upsampling shuffle
``channels``              every tensor whose first axis has the depth channels, axis 0:
                          BatchNorm, InstanceNorm, PReLU between a producer and a
                          shuffle (or between an unshuffle and its consumer)
``inputs``                ``weight`` axis 1: a Conv*d or Linear that reads a
                          downsampling shuffle
``inputs-transposed``     ``weight`` axis 0: a ConvTranspose*d that reads one
========================  ===========================================================

Everything is read and checked before anything is written; the output is written to a
temporary file in the same folder and renamed into place, and an existing file (the
input included) is only replaced when asked.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._errors import PixelShuffleError
from ._factor import factor_argument
from ._files import atomic_output
from ._weights import check_groups, feature_permutation, permutation_for

__all__ = ["LayerSpec", "add_arguments", "convert_checkpoint", "run"]

ROLES = ("outputs", "outputs-transposed", "channels", "inputs", "inputs-transposed")
_WEIGHT_AXIS = {"outputs": 0, "outputs-transposed": 1, "inputs": 1, "inputs-transposed": 0}
_NESTED_KEYS = ("state_dict", "model_state_dict", "model", "net", "params")


@dataclass(frozen=True)
class LayerSpec:
    """One layer to port: its name in the state_dict, its role and the conversion."""

    name: str
    role: str
    factor: int | tuple[int, ...]
    src: str
    dst: str
    layout: str = "NCHW"
    groups: int = 1
    features_shape: tuple[int, ...] | None = None  # for a Linear next to a reshape


def convert_checkpoint(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    layers: Sequence[LayerSpec],
    *,
    key: str | None = None,
    overwrite: bool = False,
) -> list[str]:
    """Port the named ``layers`` of the checkpoint ``source`` into a new file ``target``.

    Returns one line per permuted tensor. Raises :class:`PixelShuffleError` (and writes
    nothing) for a missing layer, a tensor whose size does not fit, an existing
    ``target`` without ``overwrite``, or a file that is not a checkpoint of tensors.
    """
    source, target = os.fspath(source), os.fspath(target)
    where = "convert"
    if not layers:
        raise PixelShuffleError(f"{where}: name at least one layer to port")
    if os.path.exists(target) and not overwrite:
        same = os.path.abspath(target) == os.path.abspath(source)
        raise PixelShuffleError(
            f"{where}: {target} {'is the input' if same else 'exists'}; pass --overwrite"
            " to replace it"
        )
    checkpoint = _load(source, where)
    state, path = _state_dict(checkpoint, key, source, where)
    updates: dict[str, Any] = {}
    report: list[str] = []
    for layer in layers:
        for name, tensor, order, axis in _plan_layer(state, layer, where):
            updates[name] = tensor.index_select(axis, _torch().as_tensor(order))
            report.append(
                f"{name} {tuple(tensor.shape)}: axis {axis} from {layer.src!r} to {layer.dst!r}"
                f" order (factor {layer.factor})"
            )
    new_state = {**state, **updates}
    _write(_replace_state(checkpoint, path, new_state), target, where)
    return report


def _plan_layer(
    state: Mapping[str, Any], layer: LayerSpec, where: str
) -> list[tuple[str, Any, np.ndarray, int]]:
    """The tensors of one layer, each with its permutation and axis; checked, not applied."""
    if layer.role not in ROLES:
        raise PixelShuffleError(
            f"{where}: layer {layer.name!r} has role {layer.role!r}; expected one of"
            f" {', '.join(ROLES)}"
        )
    prefix = f"{layer.name}."
    tensors = {name: value for name, value in state.items() if name.startswith(prefix)}
    if not tensors:
        close = sorted({name.rsplit(".", 1)[0] for name in state})[:8]
        raise PixelShuffleError(
            f"{where}: the checkpoint has no tensors under {layer.name!r}; layers it has"
            f" include {', '.join(map(repr, close))}"
        )
    planned = []
    if layer.role == "channels":
        depth = _channels_of(tensors, layer, where)
        order = _order(depth, layer, where)
        for name, tensor in tensors.items():
            if tensor.dim() >= 1 and tensor.shape[0] == depth:
                planned.append((name, tensor, order, 0))
        return planned
    weight = tensors.get(f"{prefix}weight")
    if weight is None or weight.dim() < 2:
        raise PixelShuffleError(
            f"{where}: layer {layer.name!r} (role {layer.role}) needs a weight of at least 2"
            f" axes, found {', '.join(sorted(tensors))}"
        )
    axis = _WEIGHT_AXIS[layer.role]
    if layer.features_shape is not None:  # a Linear next to a reshape/flatten
        if weight.dim() != 2:
            raise PixelShuffleError(
                f"{where}: layer {layer.name!r} has features_shape, so its weight must be a"
                f" Linear weight of 2 axes, got shape {tuple(weight.shape)}"
            )
        if math.prod(layer.features_shape) != weight.shape[axis]:
            raise PixelShuffleError(
                f"{where}: layer {layer.name!r}: features_shape {layer.features_shape} holds"
                f" {math.prod(layer.features_shape)} features, but {layer.name}.weight has"
                f" {weight.shape[axis]} along axis {axis}"
            )
        try:
            order = feature_permutation(
                layer.features_shape,
                layer.factor,
                src=layer.src,
                dst=layer.dst,
                layout=layer.layout,
            )
        except PixelShuffleError as error:
            raise PixelShuffleError(f"{where}: layer {layer.name!r}: {error}") from None
    else:
        if layer.groups > 1 and layer.role in ("inputs", "outputs-transposed"):
            # that axis holds one group's channels: the permutation acts within groups
            raise PixelShuffleError(
                f"{where}: layer {layer.name!r}: with groups={layer.groups} the weight's axis"
                f" {axis} holds one group's channels; port grouped layers in Python with"
                " pixelshuffle.nn.permute_outputs_/permute_inputs_"
            )
        order = _order(weight.shape[axis], layer, where)
        check_groups(
            order, layer.groups, f"{where}: layer {layer.name!r} has groups={layer.groups}"
        )
    planned.append((f"{prefix}weight", weight, order, axis))
    bias = tensors.get(f"{prefix}bias")
    if bias is not None and layer.role.startswith("outputs"):
        if tuple(bias.shape) != (len(order),):
            raise PixelShuffleError(
                f"{where}: {layer.name}.bias has shape {tuple(bias.shape)}, expected"
                f" ({len(order)},)"
            )
        planned.append((f"{prefix}bias", bias, order, 0))
    return planned


def _channels_of(tensors: Mapping[str, Any], layer: LayerSpec, where: str) -> int:
    sizes = {int(t.shape[0]) for t in tensors.values() if t.dim() >= 1}
    if len(sizes) != 1:
        raise PixelShuffleError(
            f"{where}: layer {layer.name!r} (role channels) has tensors of different first"
            f" sizes {sorted(sizes)}; name a per-channel layer such as a BatchNorm"
        )
    return sizes.pop()


def _order(channels: int, layer: LayerSpec, where: str) -> np.ndarray:
    return permutation_for(
        f"{where}: layer {layer.name!r} ({channels} channels)",
        channels,
        layer.factor,
        layer.src,
        layer.dst,
        layer.layout,
    )


def _torch() -> Any:
    try:
        import torch
    except ImportError as error:
        raise PixelShuffleError(
            "convert: reading checkpoints needs PyTorch: pip install 'pixelshuffle[torch]'"
        ) from error
    return torch


def _load(source: str, where: str) -> Any:
    if not os.path.isfile(source):
        raise PixelShuffleError(f"{where}: {source} is not a file")
    if source.endswith(".safetensors"):
        try:
            from safetensors.torch import load_file
        except ImportError as error:
            raise PixelShuffleError(
                f"{where}: {source} is a safetensors file: pip install safetensors"
            ) from error
        return load_file(source)
    torch = _torch()
    try:
        # weights_only: never unpickle arbitrary objects from a file
        return torch.load(source, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises UnpicklingError, RuntimeError, ...
        raise PixelShuffleError(
            f"{where}: cannot read {source} as a PyTorch checkpoint of tensors"
            f" ({type(error).__name__}: {str(error).splitlines()[0]})"
        ) from error


def _is_state(value: Any) -> bool:
    torch = _torch()
    return (
        isinstance(value, Mapping)
        and bool(value)
        and all(isinstance(v, torch.Tensor) for v in value.values())
    )


def _state_dict(
    checkpoint: Any, key: str | None, source: str, where: str
) -> tuple[Mapping[str, Any], str | None]:
    if key is not None:
        if not isinstance(checkpoint, Mapping) or key not in checkpoint:
            keys = list(checkpoint) if isinstance(checkpoint, Mapping) else []
            raise PixelShuffleError(
                f"{where}: {source} has no key {key!r}; its keys are {keys[:10]}"
            )
        if not _is_state(checkpoint[key]):
            raise PixelShuffleError(f"{where}: {source}[{key!r}] is not a dict of tensors")
        return checkpoint[key], key
    if _is_state(checkpoint):
        return checkpoint, None
    if isinstance(checkpoint, Mapping):
        nested = [k for k in _NESTED_KEYS if k in checkpoint and _is_state(checkpoint[k])]
        if len(nested) == 1:
            return checkpoint[nested[0]], nested[0]
        keys = list(checkpoint)[:10]
        raise PixelShuffleError(
            f"{where}: {source} is a dict whose state_dict is not obvious (keys {keys});"
            " name it with --key"
        )
    raise PixelShuffleError(
        f"{where}: {source} holds a {type(checkpoint).__name__}, not a state_dict of tensors"
    )


def _replace_state(checkpoint: Any, path: str | None, state: Mapping[str, Any]) -> Any:
    if path is None:
        return dict(state)
    return {**checkpoint, path: dict(state)}


def _write(checkpoint: Any, target: str, where: str) -> None:
    folder = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(folder):
        raise PixelShuffleError(f"{where}: the folder of {target} does not exist")
    if target.endswith(".safetensors"):
        try:
            from safetensors.torch import save
        except ImportError as error:
            raise PixelShuffleError(f"{where}: writing {target} needs safetensors") from error
        if not _is_state(checkpoint):
            raise PixelShuffleError(
                f"{where}: a safetensors file holds a flat state_dict; this checkpoint"
                " nests it in a dict, write .pt instead"
            )
        data = save({k: v.contiguous() for k, v in checkpoint.items()})
        with atomic_output(target) as stream:
            stream.write(data)
        return
    with atomic_output(target) as stream:
        _torch().save(checkpoint, stream)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``pixelshuffle convert``."""
    parser.add_argument("input", help="checkpoint to read (.pt, .pth or .safetensors)")
    parser.add_argument("output", help="checkpoint to write (same formats)")
    parser.add_argument("--src", help="the convention the weights were trained for, e.g. tf")
    parser.add_argument("--dst", help="the convention to port them to, e.g. torch")
    parser.add_argument(
        "--factor", type=factor_argument, help="int or per-axis ints, e.g. 3 or 2,3"
    )
    parser.add_argument("--layout", help="layout of the shuffle (default NCHW)")
    for role in ROLES:
        parser.add_argument(
            f"--{role}",
            metavar="LAYER",
            action="append",
            default=[],
            help=f"a layer whose tensors to port as {role!r} (repeatable)",
        )
    parser.add_argument(
        "--spec",
        metavar="FILE",
        help='JSON: {"src": "tf", "dst": "torch", "factor": 3, "layers": {"head.2":'
        ' "outputs", "head.3": "channels"}}; a layer may also map to an object with its own'
        ' "role", "factor", "src", "dst", "layout", "groups", "features_shape"',
    )
    parser.add_argument("--key", help="the key of the state_dict inside the checkpoint")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an existing output, even the input"
    )


def layers_from_arguments(args: argparse.Namespace) -> list[LayerSpec]:
    """The layers named on the command line and in ``--spec``."""
    defaults: dict[str, Any] = {
        "src": args.src,
        "dst": args.dst,
        "factor": args.factor,
        "layout": args.layout,
    }
    named: list[tuple[str, dict[str, Any]]] = []
    if args.spec:
        try:
            with open(args.spec, encoding="utf-8") as file:
                spec = json.load(file)
        except (OSError, json.JSONDecodeError) as error:
            raise PixelShuffleError(f"convert: cannot read --spec {args.spec}: {error}") from None
        if not isinstance(spec, dict) or not isinstance(spec.get("layers"), dict):
            raise PixelShuffleError(
                f'convert: --spec {args.spec} must be a JSON object with a "layers" object'
            )
        for field_name in ("src", "dst", "factor", "layout"):
            if defaults[field_name] is None:  # the command line wins over the file
                defaults[field_name] = spec.get(field_name)
        for name, value in spec["layers"].items():
            named.append((name, {"role": value} if isinstance(value, str) else dict(value)))
    for role in ROLES:
        for name in getattr(args, role.replace("-", "_")):
            named.append((name, {"role": role}))
    layers = []
    for name, fields in named:
        merged = {**defaults, **fields}
        missing = [f for f in ("src", "dst", "factor") if merged.get(f) is None]
        if missing:
            raise PixelShuffleError(
                f"convert: layer {name!r} needs {', '.join('--' + m for m in missing)}"
                " (on the command line or in --spec)"
            )
        factor = merged["factor"]
        try:
            factor = tuple(factor) if isinstance(factor, list) else factor_argument(factor)
        except argparse.ArgumentTypeError as error:  # a factor from --spec
            raise PixelShuffleError(f"convert: layer {name!r}: {error}") from None
        shape = merged.get("features_shape")
        layers.append(
            LayerSpec(
                name=name,
                role=merged.get("role", ""),
                factor=factor,
                src=str(merged["src"]),
                dst=str(merged["dst"]),
                layout=str(merged.get("layout") or "NCHW"),
                groups=int(merged.get("groups", 1)),
                features_shape=tuple(shape) if shape is not None else None,
            )
        )
    return layers


def run(args: argparse.Namespace) -> int:
    """Run ``pixelshuffle convert``; returns the exit status."""
    try:
        layers = layers_from_arguments(args)
        report = convert_checkpoint(
            args.input, args.output, layers, key=args.key, overwrite=args.overwrite
        )
    except (PixelShuffleError, OSError) as error:
        print(f"pixelshuffle convert: error: {error}", file=sys.stderr)
        return 2
    for line in report:
        print(line)
    print(f"wrote {args.output}")
    return 0
