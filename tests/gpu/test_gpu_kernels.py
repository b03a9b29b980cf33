"""Where Triton does not import, the engine's kernels are None and their callers run
the torch code they replace (CPU-only wheels, Windows)."""

from __future__ import annotations

import sys

import pytest

torch = pytest.importorskip("torch")
kernels = pytest.importorskip("edgewatch.gpu.kernels")


@pytest.fixture
def no_triton(monkeypatch):
    kernels.triton_kernel.cache_clear()
    monkeypatch.setitem(sys.modules, "triton", None)  # `import triton` raises ImportError
    for module in ("edgewatch.gpu.nms_kernel", "edgewatch.gpu.resize_kernel"):
        monkeypatch.delitem(sys.modules, module, raising=False)
    yield
    kernels.triton_kernel.cache_clear()


def test_without_triton_there_are_no_kernels_and_the_torch_steps_run(no_triton):
    from edgewatch.gpu import ssd_boxes

    assert kernels.nms_kernel() is None and kernels.resize_kernel() is None
    boxes = torch.tensor([[[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 0.9], [2.0, 2.0, 3.0, 3.0]]])
    kept = ssd_boxes.greedy_nms(boxes, torch.ones((1, 3), dtype=torch.bool), 0.5)
    assert kept.tolist() == [[True, False, True]]  # the second overlaps the first by 0.9


def test_with_triton_the_kernels_load():
    pytest.importorskip("triton")
    kernels.triton_kernel.cache_clear()
    assert kernels.nms_kernel().__name__ == "greedy_nms_kernel"
    assert kernels.resize_kernel().__name__ == "resized_rgb"
