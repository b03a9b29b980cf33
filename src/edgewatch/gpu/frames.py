"""NVDEC's NV12 frames, on the device, into what the detector and the viewers want.

NVDEC hands each frame over as a CUDA uint8 tensor of shape (H*3/2, W): H rows of Y,
then H/2 rows of interleaved U,V at half resolution. The colour matrix is OpenCV's
`COLOR_YUV2RGB_NV12` (BT.601, limited range, chroma repeated over each 2x2 block), so
the GPU path sees the same colours as the CPU path that decodes through FFmpeg/OpenCV.

Work is done in as few, as large, device calls as possible: a prototype that converted
and resized frame by frame spent its time launching small kernels, not computing. The
detector's input is computed only where the resize samples (`_resized_rgb`): measured on
an H200, 64 1080p frames take 2.15 ms (34 us a frame), against 5.34 ms when every pixel
was converted first, bound by memory traffic over the full-size float image.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import torch

from edgewatch.gpu.kernels import resize_kernel

# OpenCV's fixed-point BT.601 coefficients (color_yuv.simd.hpp, ITUR_BT_601_*), / 2**20:
#   R = 1.164(Y-16)                + 1.596(V-128)
#   G = 1.164(Y-16) - 0.391(U-128) - 0.813(V-128)
#   B = 1.164(Y-16) + 2.018(U-128)
_SHIFT = float(1 << 20)
_CY = 1220542 / _SHIFT
_CUB = 2116026 / _SHIFT
_CUG = -409993 / _SHIFT
_CVG = -852492 / _SHIFT
_CVR = 1673527 / _SHIFT


def _frame_size(nv12: torch.Tensor) -> tuple[int, int]:
    """(H, W) of an NV12 batch (N, H*3/2, W), or a ValueError naming the shape."""
    if nv12.dim() != 3 or nv12.dtype != torch.uint8:
        raise ValueError(
            f"expected uint8 NV12 of shape (N, H*3/2, W), got {nv12.dtype} {tuple(nv12.shape)}"
        )
    rows, width = nv12.shape[1:]
    height = rows * 2 // 3
    if height * 3 != rows * 2 or height % 2 or width % 2:
        raise ValueError(
            f"expected NV12 rows = H*3/2 with even H and W, got shape {tuple(nv12.shape)}"
        )
    return height, width


def nv12_to_rgb(nv12: torch.Tensor) -> torch.Tensor:
    """uint8 NV12 (N, H*3/2, W) -> float32 RGB (N, 3, H, W) in 0..255, unrounded.

    Left in float so a resize after it rounds only once.
    """
    height, width = _frame_size(nv12)
    n, half_h, half_w = nv12.shape[0], height // 2, width // 2
    # OpenCV turns Y below 16 to black (max(0, Y-16)): clamped while still uint8, cheaply.
    luma = nv12[:, :height].clamp(min=16).reshape(n, 1, half_h, 2, half_w, 2)
    uv = nv12[:, height:].reshape(n, half_h, half_w, 2).float() - 128.0
    u, v = uv[..., 0], uv[..., 1]
    black = -16.0 * _CY  # the luma offset, folded into the small chroma terms
    chroma = torch.stack((_CVR * v + black, _CUG * u + _CVG * v + black, _CUB * u + black), 1)
    # Each chroma sample covers its 2x2 block (OpenCV's nearest-neighbour upsampling):
    # added by broadcasting, with no upsampled copy.
    rgb = torch.add(chroma[:, :, :, None, :, None], luma, alpha=_CY)
    return rgb.clamp_(0.0, 255.0).view(n, 3, height, width)


def _to_uint8(image: torch.Tensor) -> torch.Tensor:
    """Rounded in place; no clamp needed: conversion clamps, bilinear averages stay inside."""
    return image.round_().to(torch.uint8)


def detector_input(frames: Sequence[torch.Tensor], size: int = 300) -> torch.Tensor:
    """NV12 frames (H*3/2, W) of any sizes -> uint8 RGB (N, size, size, 3) in their order.

    Frames of one size are converted together, `CHUNK` at a time. All frames must be
    on one device; the result is on it too.
    The CPU path resizes BGR and then converts; converting first changes only rounding
    (measured on the bundled footage: 0.19 mean absolute difference, 1 at most).
    """
    if not frames:
        return torch.empty((0, size, size, 3), dtype=torch.uint8)
    groups: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for index, frame in enumerate(frames):
        groups[tuple(frame.shape)].append(index)
    device = frames[0].device
    out = torch.empty((len(frames), size, size, 3), dtype=torch.uint8, device=device)
    for indices in groups.values():
        # A chunk at a time: the stacked frames and the float taps of a batch of 64
        # 1080p frames would take 500 MB, and batches of every size would make the
        # allocator free and take such blocks again and again (a free waits for the
        # whole GPU).
        for start in range(0, len(indices), CHUNK):
            chunk = indices[start : start + CHUNK]
            nv12 = torch.stack([frames[i] for i in chunk])
            if chunk == list(range(chunk[0], chunk[-1] + 1)):  # in order: a plain slice
                out[chunk[0] : chunk[-1] + 1] = _resized_rgb(nv12, size)
            else:
                out[torch.tensor(chunk, device=device)] = _resized_rgb(nv12, size)
    return out


CHUNK = 16  # frames converted at once: 16 1080p frames take 120 MB on the way


def _resized_rgb(nv12: torch.Tensor, size: int) -> torch.Tensor:
    """A same-size NV12 batch -> uint8 RGB (N, size, size, 3): in one Triton kernel on a
    CUDA device where Triton imports (`resize_kernel`), else `_resized_rgb_torch`."""
    kernel = resize_kernel() if nv12.is_cuda else None
    if kernel is None:
        return _resized_rgb_torch(nv12, size)
    offsets, weights = _sampling(size, *_frame_size(nv12), nv12.device)
    return kernel(nv12.contiguous(), size, offsets, weights, (_CY, _CUB, _CUG, _CVG, _CVR))


def triton_kernel_available() -> bool:
    """Whether the detector input is made by one Triton kernel on a CUDA device."""
    return resize_kernel() is not None


def _resized_rgb_torch(nv12: torch.Tensor, size: int) -> torch.Tensor:
    """A same-size NV12 batch -> uint8 RGB (N, size, size, 3), as converting every pixel
    and then resizing bilinearly (align_corners=False, no antialias: what cv2.resize
    INTER_LINEAR does) would give, but computed only where the resize samples: each
    output pixel's four source pixels are gathered in one call, converted (with the
    conversion's clamps) and blended. A 1080p frame has 23 times the pixels of the
    300x300 input; converting them all took 83 us a frame on an H200, this 34."""
    n, rows, width = nv12.shape
    height = rows * 2 // 3
    offsets, weights = _sampling(size, height, width, nv12.device)
    taps = nv12.reshape(n, -1).index_select(1, offsets).view(n, 4, 3, size, size)
    taps[:, :, 0].clamp_(min=16)  # OpenCV's max(0, Y-16), as in nv12_to_rgb
    yuv = taps.float()
    y = (yuv[:, :, 0] - 16.0) * _CY
    u, v = yuv[:, :, 1] - 128.0, yuv[:, :, 2] - 128.0
    rgb = torch.stack((y + _CVR * v, y + _CUG * u + _CVG * v, y + _CUB * u), -1)
    return _to_uint8((rgb.clamp_(0.0, 255.0) * weights[:, :, :, None]).sum(1))


@functools.lru_cache(maxsize=32)
def _sampling(size: int, height: int, width: int, device: torch.device):
    """For a bilinear resize of an NV12 frame to size x size: where each output pixel's
    four source pixels (taps) are, as offsets into the flat NV12 frame of their Y, U and
    V bytes, (4 taps, 3, size, size) flattened; and each tap's weight (4, size, size).
    Made once per frame size and device."""
    top, bottom, down = _taps(size, height, device)
    left, right, across = _taps(size, width, device)
    offsets, weights = [], []
    for rows, row_weight in ((top, 1 - down), (bottom, down)):
        for columns, column_weight in ((left, 1 - across), (right, across)):
            y = rows[:, None] * width + columns[None, :]
            u = height * width + (rows[:, None] // 2) * width + (columns[None, :] // 2) * 2
            offsets.append(torch.stack((y, u, u + 1)))
            weights.append(row_weight[:, None] * column_weight[None, :])
    return torch.stack(offsets).reshape(-1), torch.stack(weights)


def _taps(size: int, length: int, device: torch.device) -> tuple[torch.Tensor, ...]:
    """Where PyTorch's bilinear resize (align_corners=False) of ``length`` pixels to
    ``size`` samples: each output pixel's two source indices and the second's weight."""
    source = ((torch.arange(size, dtype=torch.float64) + 0.5) * (length / size) - 0.5).clamp(min=0)
    low = source.floor().long().clamp(max=length - 1)
    high = (low + 1).clamp(max=length - 1)
    weight = (source - low).float()
    return low.to(device), high.to(device), weight.to(device)


def nv12_to_bgr_host(nv12: torch.Tensor) -> np.ndarray:
    """One NV12 frame (H*3/2, W) -> a C-contiguous BGR uint8 (H, W, 3) numpy image.

    For what leaves the device whole (watched streams, snapshots): converted and laid
    out on the device, so the host receives it in one copy, ready for OpenCV.
    """
    rgb = _to_uint8(nv12_to_rgb(nv12[None])[0])
    bgr = rgb.permute(1, 2, 0).flip(-1).contiguous()  # reordered as uint8: a quarter the bytes
    return bgr.cpu().numpy()
