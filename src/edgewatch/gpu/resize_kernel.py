"""The detector's input from NV12 in one GPU kernel (Triton): for each output pixel,
its four bilinear taps are read, converted to RGB, clamped, weighted and summed in
registers, and only the rounded uint8 RGB is written.

`frames._resized_rgb_torch` does the same in a chain of torch calls, each a pass over
float tensors of 12 values a pixel: it runs where Triton does not import, and it is
the reference the kernel is tested against (on a GPU, and in Triton's interpreter)."""

from __future__ import annotations

import torch
import triton
import triton.language as tl

BLOCK = 256  # output pixels a program


@triton.jit
def _clamped(x):
    return tl.minimum(tl.maximum(x, 0.0), 255.0)


@triton.jit
def _round_half_even(x):
    """torch.round's rounding (ties to even), for values >= 0."""
    up = tl.floor(x + 0.5)
    odd = (up - 2.0 * tl.floor(up * 0.5)) == 1.0
    return tl.where(((up - x) == 0.5) & odd, up - 1.0, up)


@triton.jit
def _resize_nv12(
    nv12, offsets, weights, out, frame_bytes, pixels,
    cy, cub, cug, cvg, cvr, BLOCK: tl.constexpr,
):  # fmt: skip
    frame = tl.program_id(1).to(tl.int64)
    pixel = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    inside = pixel < pixels
    source = nv12 + frame * frame_bytes
    red = tl.zeros([BLOCK], tl.float32)
    green = tl.zeros([BLOCK], tl.float32)
    blue = tl.zeros([BLOCK], tl.float32)
    for tap in tl.static_range(4):  # offsets: (tap, Y/U/V, pixel); weights: (tap, pixel)
        at = offsets + tap * 3 * pixels + pixel
        luma = tl.load(source + tl.load(at, mask=inside, other=0), mask=inside, other=16)
        u = tl.load(source + tl.load(at + pixels, mask=inside, other=0), mask=inside, other=128)
        v = tl.load(source + tl.load(at + 2 * pixels, mask=inside, other=0), mask=inside, other=128)
        y = (tl.maximum(luma.to(tl.float32), 16.0) - 16.0) * cy
        u = u.to(tl.float32) - 128.0
        v = v.to(tl.float32) - 128.0
        weight = tl.load(weights + tap * pixels + pixel, mask=inside, other=0.0)
        red += _clamped(y + cvr * v) * weight
        green += _clamped(y + cug * u + cvg * v) * weight
        blue += _clamped(y + cub * u) * weight
    target = out + (frame * pixels + pixel) * 3
    tl.store(target, _round_half_even(red).to(tl.uint8), mask=inside)
    tl.store(target + 1, _round_half_even(green).to(tl.uint8), mask=inside)
    tl.store(target + 2, _round_half_even(blue).to(tl.uint8), mask=inside)


def resized_rgb(
    nv12: torch.Tensor, size: int, offsets: torch.Tensor, weights: torch.Tensor,
    coefficients: tuple[float, float, float, float, float],
) -> torch.Tensor:  # fmt: skip
    """A contiguous same-size NV12 batch (N, H*3/2, W) -> uint8 RGB (N, size, size, 3).
    ``offsets``/``weights`` from `frames._sampling`; ``coefficients`` (cy, cub, cug, cvg,
    cvr) are the colour matrix's."""
    n, rows, width = nv12.shape
    pixels = size * size
    out = torch.empty((n, size, size, 3), dtype=torch.uint8, device=nv12.device)
    grid = (triton.cdiv(pixels, BLOCK), n)
    _resize_nv12[grid](nv12, offsets, weights, out, rows * width, pixels, *coefficients,
                       BLOCK=BLOCK)  # fmt: skip
    return out
