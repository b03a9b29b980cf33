"""The NMS's Triton kernel (`gpu/nms_kernel.py`) against the torch steps it replaces, run
by Triton's interpreter on the CPU (CI has no GPU; on a GPU the compiled kernel is held
against the same steps in test_gpu_ssd_torch.py). The interpreter is chosen when Triton
is imported, so the check runs in a process of its own."""

from __future__ import annotations

import pytest
from triton_interpreter import run_in_interpreter

pytest.importorskip("torch")
pytest.importorskip("triton")

CHECK = """
import json, sys
import numpy as np, torch
sys.path[:0] = [sys.argv[2], sys.argv[2] + "/gpu"]
from conftest import read_frames
from test_gpu_ssd_torch import CONFIG, random_groups
from edgewatch.detect.ssd import input_batch
from edgewatch.gpu import ssd_boxes, ssd_torch
from edgewatch.gpu.nms_kernel import greedy_nms_kernel

def padded(seed, k):
    # groups of clustered boxes, best first, padded to k with invalid copies of a box
    boxes, scores, groups = random_groups(seed, count=120, groups=3)
    out = np.repeat(boxes[:1], 3 * k, axis=0).reshape(3, k, 4)
    valid = np.zeros((3, k), bool)
    for g in range(3):
        mine = np.flatnonzero(groups == g)
        mine = mine[np.argsort(-scores[mine], kind="stable")][:k]
        out[g, : len(mine)], valid[g, : len(mine)] = boxes[mine], True
    return torch.from_numpy(out), torch.from_numpy(valid)

results = {}
for seed, k in ((0, 100), (1, 37), (2, 64), (3, 1)):
    boxes, valid = padded(seed, k)
    for iou in (0.3, 0.6):
        expected = ssd_boxes.greedy_nms_torch(boxes, valid, iou)
        got = greedy_nms_kernel(boxes, valid, iou)
        results[f"random k={k} iou={iou}"] = [int((got != expected).sum()), int(expected.sum())]

# The SSD's own candidates on real frames: the whole boxes' path with either NMS.
detector = ssd_torch.TorchSsd(CONFIG, device="cpu")
frames = read_frames(sys.argv[1], [0, 300, 600])
with torch.inference_mode():
    outputs = detector.network(torch.from_numpy(input_batch(frames, 300)))
    expected = detector.select(*outputs)
    ssd_boxes.greedy_nms = greedy_nms_kernel  # what a CUDA device runs
    got = detector.select(*outputs)
kept = int((expected[..., ssd_boxes.ROW_SCORE] > 0).sum())
results["real frames"] = [int((got != expected).sum()), kept]
print(json.dumps(results))
"""


def test_the_kernel_in_the_interpreter_keeps_what_the_torch_steps_keep(vtest_path):
    results = run_in_interpreter(CHECK, vtest_path)
    for case, (differing, kept) in results.items():
        assert differing == 0, f"{case}: {differing} of the rows differ"
        assert kept > 0, f"{case}: nothing kept, the check is vacuous"
    # clusters: many suppressed at 0.3, fewer at 0.6 (both sides of the threshold ran)
    assert results["random k=100 iou=0.3"][1] < results["random k=100 iou=0.6"][1]
