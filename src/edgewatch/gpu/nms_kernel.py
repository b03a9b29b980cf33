"""Greedy NMS of the SSD's padded candidates in one Triton kernel: a program per image
and class holds its K boxes (best first) in registers and takes K steps, each box, if
still kept, suppressing the later boxes it overlaps.

`ssd_boxes.greedy_nms` does the same in K steps of torch calls over every group at once,
three small kernels a step (300 for the bundled SSD's K = 100, replayed in every batch's
CUDA graph): it runs where Triton does not import, and it is the reference the kernel
is tested against (in Triton's interpreter in CI, and on a GPU). The IoU is computed in
the reference's order of operations, with IEEE division and no fused multiply-adds, so
that the same boxes survive to the bit."""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _greedy_nms(boxes, valid, kept, iou, K: tl.constexpr, BLOCK: tl.constexpr):
    group = tl.program_id(0).to(tl.int64)
    slot = tl.arange(0, BLOCK)
    inside = slot < K
    corner = boxes + group * K * 4  # (K, 4) xyxy
    x1 = tl.load(corner + slot * 4, mask=inside, other=0.0)
    y1 = tl.load(corner + slot * 4 + 1, mask=inside, other=0.0)
    x2 = tl.load(corner + slot * 4 + 2, mask=inside, other=0.0)
    y2 = tl.load(corner + slot * 4 + 3, mask=inside, other=0.0)
    area = tl.maximum(x2 - x1, 0.0) * tl.maximum(y2 - y1, 0.0)
    gone = tl.load(valid + group * K + slot, mask=inside, other=0) == 0
    for i in range(K):
        # box i's own corners again from memory (cached): registers hold slots, not i
        bx1 = tl.load(corner + i * 4)
        by1 = tl.load(corner + i * 4 + 1)
        bx2 = tl.load(corner + i * 4 + 2)
        by2 = tl.load(corner + i * 4 + 3)
        width = tl.maximum(tl.minimum(bx2, x2) - tl.maximum(bx1, x1), 0.0)
        height = tl.maximum(tl.minimum(by2, y2) - tl.maximum(by1, y1), 0.0)
        inter = width * height
        union = (tl.maximum(bx2 - bx1, 0.0) * tl.maximum(by2 - by1, 0.0) + area) - inter
        overlap = tl.where(union > 0, tl.div_rn(inter, tl.maximum(union, 1e-12)), 0.0)
        i_gone = tl.max(tl.where(slot == i, gone.to(tl.int32), 0), axis=0)
        gone = gone | ((overlap > iou) & (slot > i) & (i_gone == 0))
    tl.store(kept + group * K + slot, (gone == 0).to(tl.int8), mask=inside)


def greedy_nms_kernel(boxes: torch.Tensor, valid: torch.Tensor, iou: float) -> torch.Tensor:
    """`ssd_boxes.greedy_nms` for (..., K, 4) float32 boxes on a CUDA device."""
    k = boxes.shape[-2]
    groups = boxes.numel() // (4 * k) if k else 0
    kept = torch.empty(valid.shape, dtype=torch.int8, device=boxes.device)
    if groups:
        _greedy_nms[(groups,)](
            boxes.contiguous(), valid.contiguous().to(torch.int8), kept, iou, K=k,
            BLOCK=triton.next_power_of_2(k), enable_fp_fusion=False,
        )  # fmt: skip
    return kept.bool()
