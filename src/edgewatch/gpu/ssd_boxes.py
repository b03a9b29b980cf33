"""The SSD's boxes for a whole batch in shapes fixed by the batch size alone: top_k
candidates per image and class, greedy NMS, keep_top_k per image, the work of
`edgewatch.detect.ssd._SsdDetector._postprocess` (Caffe's DetectionOutput).

No step waits for the host: no `nonzero`, no sizes read back, every loop bounded by
top_k. The whole path can therefore be captured in the network's CUDA graph and replayed
with it, and runs the same kernels whatever a frame holds. Ties are broken as the
reference does (by class, then prior), so the detections are the same to the bit.
"""

from __future__ import annotations

import torch
from torch import Tensor

from edgewatch.gpu.kernels import nms_kernel

#: Columns of a row of `select_boxes`: x1, y1, x2, y2 (0..1 of the image), score, and
#: the index of the score column (of the reported classes) it came from.
ROW_SCORE, ROW_COLUMN = 4, 5
NOT_KEPT = -1.0  # the score of a row that holds no detection (scores are 0..1)


def decode_boxes(encodings: Tensor, priors: Tensor, var: Tensor) -> Tensor:
    """CENTER_SIZE decoding of (..., 4) encodings against their priors and variances,
    as `edgewatch.detect.ssd.decode_boxes` does in numpy; xyxy out."""
    size = priors[..., 2:] - priors[..., :2]
    center = priors[..., :2] + size * 0.5 + encodings[..., :2] * var[..., :2] * size
    half = torch.exp(encodings[..., 2:] * var[..., 2:]) * size * 0.5
    return torch.cat([center - half, center + half], dim=-1)


def pairwise_iou(boxes: Tensor) -> Tensor:
    """(..., K, K) IoU of (..., K, 4) xyxy boxes, as `edgewatch.geometry.iou_matrix`."""
    x1, y1, x2, y2 = boxes.unbind(-1)
    width = torch.minimum(x2[..., :, None], x2[..., None, :])
    width -= torch.maximum(x1[..., :, None], x1[..., None, :])
    height = torch.minimum(y2[..., :, None], y2[..., None, :])
    height -= torch.maximum(y1[..., :, None], y1[..., None, :])
    inter = width.clamp_(min=0) * height.clamp_(min=0)
    area = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
    union = area[..., :, None] + area[..., None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=1e-12), 0.0)


def greedy_nms(boxes: Tensor, valid: Tensor, iou: float) -> Tensor:
    """Which boxes greedy NMS keeps, for (..., K, 4) boxes ordered best first along K:
    a box goes when a better kept box overlaps it by IoU > ``iou``. Invalid boxes are
    dropped and suppress nothing. On a CUDA device, one Triton kernel (`nms_kernel`)
    where Triton imports; else `greedy_nms_torch`."""
    kernel = nms_kernel() if boxes.is_cuda else None
    if kernel is None:
        return greedy_nms_torch(boxes, valid, iou)
    return kernel(boxes, valid, iou)


def greedy_nms_torch(boxes: Tensor, valid: Tensor, iou: float) -> Tensor:
    """`greedy_nms` in K steps of torch calls over all groups at once, none waiting for
    the host: about 300 small kernels for K = 100, replayed in the CUDA graph."""
    over = torch.triu(pairwise_iou(boxes) > iou, diagonal=1)  # better box i over later j
    suppressed = ~valid
    for i in range(boxes.shape[-2]):
        suppressed |= over[..., i, :] & ~suppressed[..., i : i + 1]
    return ~suppressed


def select_boxes(
    encodings: Tensor,
    scores: Tensor,
    *,
    priors: Tensor,
    variances: Tensor,
    columns: Tensor,
    threshold: float,
    top_k: int,
    nms_iou: float,
    keep_top_k: int,
) -> Tensor:
    """(N, M, 6) rows (see ROW_*) of each image's detections, best first, from the
    network's (N, P, 4) encodings and (N, P, classes) scores; M = keep_top_k (or every
    candidate where it is unbounded). Rows past an image's detections score NOT_KEPT.

    ``columns``: the score columns of the reported classes; a score counts above
    ``threshold``; at most ``top_k`` candidates per image and class go into NMS."""
    n, priors_count = scores.shape[:2]
    reported = scores[:, :, columns].transpose(1, 2)  # (N, C, P)
    classes = reported.shape[1]
    candidates = torch.where(reported > threshold, reported, NOT_KEPT)
    # Best first; equal scores stay in prior order, as the reference keeps them.
    best = torch.sort(candidates, dim=2, descending=True, stable=True)
    k = min(top_k, priors_count) if top_k > 0 else priors_count
    prior, score = best.indices[..., :k], best.values[..., :k]  # (N, C, K)
    flat = prior.reshape(n, classes * k)
    taken = torch.gather(encodings, 1, flat[..., None].expand(n, classes * k, 4))
    boxes = decode_boxes(taken.reshape(n, classes, k, 4), priors[prior], variances[prior])
    kept = greedy_nms(boxes, score > threshold, nms_iou)
    # keep_top_k of each image, best first; ties by class, then prior (the flat order).
    ranked = torch.where(kept, score, NOT_KEPT).reshape(n, classes * k)
    ranked = torch.sort(ranked, dim=1, descending=True, stable=True)
    m = min(keep_top_k, classes * k) if keep_top_k > 0 else classes * k
    index = ranked.indices[:, :m]
    xyxy = torch.gather(boxes.reshape(n, classes * k, 4), 1, index[..., None].expand(n, m, 4))
    column = torch.div(index, k, rounding_mode="floor").to(xyxy.dtype)
    return torch.cat([xyxy, ranked.values[:, :m, None], column[..., None]], dim=2)
