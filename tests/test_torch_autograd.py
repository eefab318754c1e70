"""PyTorch autograd: gradients are the inverse op, for every convention, layout and rank,
with gradcheck and gradgradcheck in float64; torch.func transforms; a model trains."""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest

import pixelshuffle as ps

from . import oracle
from .conftest import require

torch = require("torch")

pytestmark = pytest.mark.frameworks

CONVENTIONS = ["torch", "tf", "caffe", "order-string"]
FACTORS = {1: (3,), 2: (3, 2), 3: (2, 1, 3)}
COARSE = {1: (4,), 2: (2, 3), 3: (2, 2, 1)}


def _order(convention: str, layout: str) -> str:
    if convention == "order-string":  # spatial axes reversed, then c: no preset's order
        return layout[1:].replace("C", "").lower()[::-1] + "c"
    return oracle.preset_order(convention, layout)


def _depth_input(layout: str, channels: int = 2, batch: int = 2) -> torch.Tensor:
    rank = len(layout) - 2
    depth = channels * math.prod(FACTORS[rank])
    coarse = COARSE[rank]
    shape = (batch, *coarse, depth) if layout.endswith("C") else (batch, depth, *coarse)
    return torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("layout", oracle.ALL_LAYOUTS)
@pytest.mark.parametrize("convention", CONVENTIONS)
def test_gradcheck_and_gradgradcheck(convention, layout):
    order = _order(convention, layout)
    rank = len(layout) - 2
    factors = FACTORS[rank]
    x = _depth_input(layout).requires_grad_()
    kwargs = {"convention": order, "layout": layout}
    np.testing.assert_array_equal(
        ps.pixel_shuffle(x, factors, **kwargs).detach().numpy(),
        oracle.shuffle(x.detach().numpy(), factors, order, layout),
    )

    def up_then_down(t):
        up = ps.pixel_shuffle(t, factors, **kwargs)
        # squaring makes the second derivative non-zero, so gradgradcheck sees the op
        return up, ps.pixel_unshuffle(up * up, factors, **kwargs)

    assert torch.autograd.gradcheck(up_then_down, (x,))
    assert torch.autograd.gradgradcheck(up_then_down, (x,))


@pytest.mark.parametrize("layout", ["NCHW", "NHWC", "NCL", "NDHWC"])
@pytest.mark.parametrize("convention", CONVENTIONS)
def test_gradient_equals_the_oracle_inverse(convention, layout):
    order = _order(convention, layout)
    factors = FACTORS[len(layout) - 2]
    x = _depth_input(layout).requires_grad_()
    up = ps.pixel_shuffle(x, factors, convention=order, layout=layout)
    weight = torch.randn(up.shape, dtype=torch.float64)
    (up * weight).sum().backward()
    expected = oracle.unshuffle(weight.numpy(), factors, order, layout)
    np.testing.assert_array_equal(x.grad.numpy(), expected)

    y = x.detach().clone().requires_grad_()
    down_input = up.detach().clone().requires_grad_()
    down = ps.pixel_unshuffle(down_input, factors, convention=order, layout=layout)
    (down * y).sum().backward()
    np.testing.assert_array_equal(
        down_input.grad.numpy(), oracle.shuffle(y.detach().numpy(), factors, order, layout)
    )


def test_backward_is_one_node_that_runs_the_inverse_op(monkeypatch):
    # the full path's node: a shape that an earlier test ran without gradients is
    # remembered, and small remembered shapes take the views' own backward instead
    monkeypatch.setattr(importlib.import_module("pixelshuffle._torch"), "_RECIPES", {})
    x = torch.randn(2, 18, 4, 5, requires_grad=True)
    y = ps.pixel_shuffle(x, 3, convention="tf")
    # one autograd node, not a chain of view/permute/clone nodes
    assert type(y.grad_fn).__name__ == "_RearrangeBackward"
    assert y.grad_fn.next_functions[0][0].variable is x


@pytest.mark.parametrize("convention", ["torch", "tf", "caffe"])
def test_expanded_and_noncontiguous_gradients(convention):
    x = torch.randn(2, 18, 4, 5, dtype=torch.float64, requires_grad=True)
    # sum() hands back an expanded (stride 0) gradient
    ps.pixel_shuffle(x, 3, convention=convention).sum().backward()
    assert torch.equal(x.grad, torch.ones_like(x))

    x.grad = None
    grad = torch.randn(2, 15, 12, 2, dtype=torch.float64).permute(0, 3, 2, 1)  # strided
    assert not grad.is_contiguous()
    ps.pixel_shuffle(x, 3, convention=convention).backward(grad)
    expected = ps.pixel_unshuffle(grad.contiguous(), 3, convention=convention)
    assert torch.equal(x.grad, expected)


def test_channels_last_gradients_keep_the_memory_format():
    x = torch.randn(2, 18, 4, 5).contiguous(memory_format=torch.channels_last).requires_grad_()
    y = ps.pixel_shuffle(x, 3, convention="tf")
    assert y.is_contiguous(memory_format=torch.channels_last)
    weight = torch.randn(y.shape)
    (y * weight).sum().backward()
    assert torch.equal(x.grad, ps.pixel_unshuffle(weight, 3, convention="tf"))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.complex64])
def test_gradients_in_other_dtypes(dtype):
    x = torch.randn(1, 8, 3, 5).to(dtype).requires_grad_()
    y = ps.pixel_shuffle(x, 2, convention="caffe")
    weight = torch.randn(y.shape).to(dtype)
    y.backward(weight)  # the vector-Jacobian product with `weight`
    assert x.grad.dtype == dtype
    assert torch.equal(x.grad, ps.pixel_unshuffle(weight, 2, convention="caffe"))


def test_no_grad_and_inference_mode_record_nothing():
    x = torch.randn(1, 9, 2, 2, requires_grad=True)
    with torch.no_grad():
        assert ps.pixel_shuffle(x, 3).grad_fn is None
    with torch.inference_mode():
        assert ps.pixel_shuffle(x, 3, convention="tf").grad_fn is None


def test_torch_func_vmap_and_grad():
    def shuffle(t):
        return ps.pixel_shuffle(t, (3, 2), convention="tf")

    xs = torch.randn(4, 2, 12, 3, 5, dtype=torch.float64)
    assert torch.equal(torch.func.vmap(shuffle)(xs), shuffle(xs))
    weight = torch.randn(2, 2, 9, 10, dtype=torch.float64)
    grad = torch.func.grad(lambda t: (shuffle(t) * weight).sum())(xs[0])
    assert torch.equal(grad, ps.pixel_unshuffle(weight, (3, 2), convention="tf"))


def test_a_model_trains():
    """Conv → PixelShuffle(3, tf) → Conv learns a tiny task: its loss decreases."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 2 * 9, 3, padding=1),
        ps.nn.PixelShuffle(3, convention="tf"),
        torch.nn.Conv2d(2, 1, 3, padding=1),
    )
    images = torch.rand(8, 1, 5, 7)
    target = torch.nn.functional.interpolate(images, scale_factor=3, mode="nearest")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(images), target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.25 * losses[0]
