"""The detector input's Triton kernel (`gpu/resize_kernel.py`) against the chain of
torch calls it replaces, run by Triton's interpreter on the CPU (CI has no GPU; on a GPU
the compiled kernel is held against the same chain in test_gpu_frames.py). The
interpreter is chosen when Triton is imported, so the check runs in a process of its own."""

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
from test_gpu_frames import bgr_to_nv12
from edgewatch.gpu import frames
from edgewatch.gpu.resize_kernel import resized_rgb

real = torch.from_numpy(np.stack([bgr_to_nv12(f) for f in read_frames(sys.argv[1], [0, 300])]))
torch.manual_seed(3)
noise = torch.randint(0, 256, (2, 96, 128), dtype=torch.uint8)
worst = []
for nv12, size in ((real, 64), (real[:1], 300), (noise, 30), (noise, 200)):
    height, width = nv12.shape[1] * 2 // 3, nv12.shape[2]
    offsets, weights = frames._sampling(size, height, width, nv12.device)
    coefficients = (frames._CY, frames._CUB, frames._CUG, frames._CVG, frames._CVR)
    got = resized_rgb(nv12, size, offsets, weights, coefficients)
    expected = frames._resized_rgb_torch(nv12, size)
    assert got.shape == expected.shape == (len(nv12), size, size, 3), got.shape
    worst.append(int((got.int() - expected.int()).abs().max()))
print(json.dumps(worst))
"""


def test_the_kernel_in_the_interpreter_gives_the_torch_chains_input(vtest_path):
    outcome = run_in_interpreter(CHECK, vtest_path)
    # Real frames down to 64 and 300, saturated noise down to 30 and up to 200: the
    # interpreter rounds as the torch chain does (the GPU's fused multiply-adds may not).
    assert outcome == [0, 0, 0, 0]
