"""The bundled SSD in PyTorch (the GPU engine's detector) against the ONNX model in ONNX
Runtime, on real CCTV footage: the same detections on the CPU in fp32, and on a CUDA GPU
in fp16 where there is one."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest
from conftest import read_frames
from onnx import TensorProto, helper

from edgewatch.detect.base import DetectorConfig
from edgewatch.detect.filters import greedy_suppress
from edgewatch.detect.ssd import SsdOnnxDetector
from edgewatch.detect.ssd_onnx_build import cached_ssd_onnx
from edgewatch.geometry import iou_matrix
from edgewatch.types import Detections

torch = pytest.importorskip("torch")
ssd_torch = pytest.importorskip("edgewatch.gpu.ssd_torch")
ssd_boxes = pytest.importorskip("edgewatch.gpu.ssd_boxes")

SAMPLED = list(range(0, 800, 100))  # 8 frames spread over the clip
CONFIG = DetectorConfig(precision="fp32")  # the default classes, thresholds and merge


@pytest.fixture(scope="module")
def frames(vtest_path) -> list[np.ndarray]:
    return read_frames(vtest_path, SAMPLED)


@pytest.fixture(scope="module")
def reference(frames) -> tuple[SsdOnnxDetector, list[Detections]]:
    detector = SsdOnnxDetector(CONFIG)
    return detector, detector.detect(frames)


def compare(expected: Detections, got: Detections, thresholds: np.ndarray, tolerance: float):
    """(worst IoU, worst score difference) of matched boxes, asserting the same
    detections: a box may be missing only when its score is within `tolerance` of its
    class threshold, where the two runtimes can fall on either side of it."""
    worst_iou, worst_score = 1.0, 0.0
    for ours, theirs in ((expected, got), (got, expected)):
        iou = iou_matrix(ours.xyxy, theirs.xyxy) * (ours.class_id[:, None] == theirs.class_id)
        for i in range(len(ours)):
            clear = ours.confidence[i] >= thresholds[ours.class_id[i]] + tolerance
            best = int(iou[i].argmax()) if len(theirs) else -1
            if best < 0 or iou[i, best] < 0.9:
                assert not clear, f"{ours.label(i)} {ours.xyxy[i]} {ours.confidence[i]} unmatched"
                continue
            difference = abs(float(ours.confidence[i] - theirs.confidence[best]))
            assert difference <= tolerance, f"{ours.label(i)} scores differ by {difference}"
            worst_iou, worst_score = min(worst_iou, iou[i, best]), max(worst_score, difference)
    return worst_iou, worst_score


def assert_same_as_onnx(detector, reference, frames, tolerance: float) -> None:
    onnx_detector, expected = reference
    got = detector.detect(frames)
    thresholds = onnx_detector.filter.thresholds
    worst = [compare(e, g, thresholds, tolerance) for e, g in zip(expected, got, strict=True)]
    near = sum(  # boxes close enough to a threshold to be on either side of it
        int((abs(d.confidence - thresholds[d.class_id]) < tolerance).sum())
        for d in (*expected, *got)
    )
    assert sum(len(d) for d in expected) >= 20  # not vacuous: people, a van, a car
    assert sum(abs(len(e) - len(g)) for e, g in zip(expected, got, strict=True)) <= near
    print(
        f"{sum(map(len, expected))} detections; worst IoU {min(w[0] for w in worst):.6f}, "
        f"worst score difference {max(w[1] for w in worst):.2e}"
    )


def test_torch_on_the_cpu_finds_what_onnx_runtime_finds(reference, frames):
    # batches of 4: the batched post-processing must keep each frame's boxes apart
    detector = ssd_torch.TorchSsd(CONFIG.model_copy(update={"batch_size": 4}), device="cpu")
    assert {b.dtype for b in detector.network.buffers()} == {torch.float32}
    detector.warm_up(4)  # what a shard does first
    assert_same_as_onnx(detector, reference, frames, tolerance=0.02)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU (CI has none)")
def test_torch_on_a_cuda_gpu_in_fp16_finds_what_onnx_runtime_finds(reference, frames):
    detector = ssd_torch.TorchSsd(CONFIG.model_copy(update={"batch_size": 8}), device="cuda")
    assert {b.dtype for b in detector.network.buffers()} == {torch.float16}
    rows = detector.infer(torch.zeros((2, 300, 300, 3), dtype=torch.uint8).cuda())
    assert rows.shape == (2, detector.head.keep_top_k, 6) and rows.is_cuda
    # fp16 moved scores by 0.0025 at most on an H200 (IoU >= 0.99): 0.02 leaves room
    assert_same_as_onnx(detector, reference, frames, tolerance=0.02)


def test_postprocess_equals_the_numpy_one_on_the_same_network_output(frames):
    """Every class down to the head's own 0.01 threshold: top_k and keep_top_k bind."""
    config = DetectorConfig(precision="fp32", classes=None, confidence=0.0, merge_iou=None)
    onnx_detector = SsdOnnxDetector(config)
    detector = ssd_torch.TorchSsd(config, model_path=cached_ssd_onnx(config.cache_dir))
    images = frames[:3]
    batch = np.stack([cv2.cvtColor(cv2.resize(i, (300, 300)), cv2.COLOR_BGR2RGB) for i in images])
    encodings, scores = onnx_detector._infer(batch)
    sizes = [image.shape[:2] for image in images]
    expected = [
        onnx_detector._postprocess(e, s, hw)
        for e, s, hw in zip(encodings, scores, sizes, strict=True)
    ]
    rows = detector.select(torch.from_numpy(encodings), torch.from_numpy(scores))
    got = detector.postprocess(rows, sizes)
    assert [len(d) for d in expected] == [100] * 3  # keep_top_k
    for e, g in zip(expected, got, strict=True):
        np.testing.assert_array_equal(g.class_id, e.class_id)
        np.testing.assert_array_equal(g.confidence, e.confidence)
        np.testing.assert_allclose(g.xyxy, e.xyxy, atol=1e-3)


def random_groups(seed: int, count: int = 300, groups: int = 5):
    """Boxes in clusters that overlap, as SSD gives them, their scores and groups."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 1, (6, 2))
    xy = centres[rng.integers(0, 6, count)] + rng.normal(0, 0.02, (count, 2))
    wh = rng.uniform(0.1, 0.3, (count, 2))
    boxes = np.concatenate([xy - wh / 2, xy + wh / 2], axis=1).astype(np.float32)
    # Scores in steps of 1/64: many ties, which must be broken as the reference breaks them
    scores = (rng.integers(1, 64, count) / 64).astype(np.float32)
    return boxes, scores, rng.integers(0, groups, count)


def padded_groups(boxes, scores, groups, spare: int = 0):
    """Each group a row, best first, padded with invalid copies of a box that would
    suppress, were it valid: (padded, valid, order, slot), box order[i] at
    [groups[order[i]], slot[i]]. ``spare``: padding columns beyond the largest group."""
    order = np.lexsort((-scores, groups))
    slot = np.arange(len(order)) - np.searchsorted(groups[order], groups[order])
    padded = np.zeros((groups.max() + 1, slot.max() + 1 + spare, 4), np.float32)
    padded[:] = boxes[order[0]]
    valid = np.zeros(padded.shape[:2], bool)
    padded[groups[order], slot], valid[groups[order], slot] = boxes[order], True
    return padded, valid, order, slot


@pytest.mark.parametrize("seed", range(4))
def test_fixed_shape_nms_keeps_what_greedy_suppress_keeps(seed):
    boxes, scores, groups = random_groups(seed)
    for iou in (0.3, 0.6):
        expected = np.sort(greedy_suppress(boxes, scores, groups, iou, same_class=True))
        padded, valid, order, slot = padded_groups(boxes, scores, groups, spare=1)
        kept = ssd_boxes.greedy_nms(torch.from_numpy(padded), torch.from_numpy(valid), iou)
        assert 30 < len(expected) < 200  # many boxes suppressed, many kept
        got = np.sort(order[kept.numpy()[groups[order], slot]])
        np.testing.assert_array_equal(got, expected)
        assert not kept.numpy()[~valid].any()


def test_the_boxes_path_has_the_same_shapes_whatever_the_frames_hold():
    """What lets it be captured in a CUDA graph: no size depends on the data."""
    detector = ssd_torch.TorchSsd(CONFIG, device="cpu")
    priors, classes = len(detector.head.priors), 91
    encodings = torch.zeros((3, priors, 4))
    empty = detector.select(encodings, torch.zeros((3, priors, classes)))
    busy = detector.select(encodings, torch.full((3, priors, classes), 0.9))
    assert empty.shape == busy.shape == (3, detector.head.keep_top_k, 6)
    assert (empty[..., ssd_boxes.ROW_SCORE] == ssd_boxes.NOT_KEPT).all()
    assert (busy[..., ssd_boxes.ROW_SCORE] == 0.9).all()  # every prior of every class found
    sizes = [(300, 300)] * 3
    assert [len(d) for d in detector.postprocess(empty, sizes)] == [0, 0, 0]


def test_graph_module_names_an_op_it_cannot_run():
    node = helper.make_node("Relu", ["x"], ["y"], name="relu")
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    with pytest.raises(NotImplementedError, match="relu: ONNX op Relu"):
        ssd_torch.graph_module(helper.make_model(graph), torch.float32)


def test_fusing_each_convolution_with_its_relu6_keeps_the_outputs(monkeypatch):
    """The graph rewrite on the CPU: cuDNN's fused op (CUDA only) stands in as what it
    computes, relu(conv(x) + bias); the kernel itself is held against the plain network
    on a GPU below."""

    def convolution_relu(x, w, b, stride, padding, dilation, groups):
        return torch.relu(torch.nn.functional.conv2d(x, w, b, stride, padding, dilation, groups))

    monkeypatch.setattr(torch, "cudnn_convolution_relu", convolution_relu)
    import onnx

    model = onnx.load(cached_ssd_onnx(None))
    plain = ssd_torch.graph_module(model, torch.float32)
    fused = ssd_torch.graph_module(model, torch.float32, fuse_relu=True)
    assert plain.fused == 0 and fused.fused == 26  # the pointwise ones of the 47 ReLU6
    assert len(fused.steps) == len(plain.steps) - 26
    images = torch.from_numpy(np.stack(noise_images()))
    with torch.inference_mode():
        for ours, theirs in zip(fused(images), plain(images), strict=True):
            torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)


def noise_images() -> list[np.ndarray]:
    rng = np.random.default_rng(0)  # noise is enough: every step runs on it
    return [rng.integers(0, 256, (300, 300, 3), dtype=np.uint8) for _ in range(2)]


def test_a_device_whose_cudnn_cannot_fuse_runs_the_plain_network(monkeypatch, caplog):
    def no_fused_kernel(*args):
        raise RuntimeError("cuDNN error: CUDNN_STATUS_NOT_SUPPORTED")

    monkeypatch.setattr(torch, "cudnn_convolution_relu", no_fused_kernel)
    detector = ssd_torch.TorchSsd(CONFIG, device="cpu", fused=True)
    assert not detector.fused
    assert "run apart" in caplog.text and "NOT_SUPPORTED" in caplog.text
    # what the bench prints, from each shard
    assert detector.describe() == "fp32, op by op, NMS in torch steps"
    assert ssd_torch.TorchSsd(CONFIG, device="cpu").fused is False  # CUDA only by default


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU (CI has none)")
def test_fused_convolutions_find_what_the_plain_network_finds(frames):
    model = os.environ.get("EDGEWATCH_SSD_ONNX")  # a GPU box without the weights package
    config = CONFIG.model_copy(update={"batch_size": 8})
    plain = ssd_torch.TorchSsd(config, device="cuda", model_path=model, fused=False)
    fused = ssd_torch.TorchSsd(config, device="cuda", model_path=model)
    assert fused.fused, "cuDNN could not fuse: see the warning"
    for detector in (plain, fused):
        detector.warm_up(8)
    expected, got = plain.detect(frames), fused.detect(frames)
    assert sum(len(d) for d in expected) >= 20  # not vacuous
    for e, g in zip(expected, got, strict=True):
        compare(e, g, plain.filter.thresholds, tolerance=0.02)
    # The fused op is given its output as the unused addend (alpha 0): memory reused from
    # other tensors must not leak into it, whatever it held.
    images = torch.randint(0, 256, (32, 300, 300, 3), dtype=torch.uint8, device="cuda")
    with torch.inference_mode():
        for _ in range(5):
            garbage = torch.full((64, 1024, 1024), float("nan"), device="cuda")
            del garbage  # its blocks go back to the cache, NaN-filled
            for ours, theirs in zip(fused.network(images), plain.network(images), strict=True):
                assert torch.isfinite(ours).all()
                torch.testing.assert_close(ours, theirs, rtol=0.05, atol=0.05)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU (CI has none)")
def test_the_cuda_graphs_find_what_the_ops_run_one_by_one_find(frames):
    """Network and boxes replayed as one CUDA graph per batch size against the same
    steps launched one by one: the same kernels, so the same detections to the bit."""
    model = os.environ.get("EDGEWATCH_SSD_ONNX")
    config = CONFIG.model_copy(update={"batch_size": 8})
    eager = ssd_torch.TorchSsd(config, device="cuda", model_path=model, cuda_graphs=False)
    graphs = ssd_torch.TorchSsd(config, device="cuda", model_path=model)
    for detector in (eager, graphs):
        detector.warm_up(8)
    assert sorted(graphs._graphs) == [1, 2, 4, 8], "capture failed: see the warning"
    expected = eager.detect(frames)
    assert sum(len(d) for d in expected) >= 20  # not vacuous
    for size in (8, 5, 1):  # a full graph, one padded, the smallest
        got = [d for i in range(0, len(frames), size) for d in graphs.detect(frames[i : i + size])]
        for e, g in zip(expected, got, strict=True):
            np.testing.assert_array_equal(g.class_id, e.class_id)
            np.testing.assert_array_equal(g.confidence, e.confidence)
            np.testing.assert_array_equal(g.xyxy, e.xyxy)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU (CI has none)")
def test_the_nms_kernel_keeps_what_the_torch_steps_keep_on_a_gpu(frames, monkeypatch):
    """The compiled kernel (the interpreter's run is test_gpu_nms_kernel.py)."""
    pytest.importorskip("triton")
    from edgewatch.gpu.nms_kernel import greedy_nms_kernel

    padded, valid, _, _ = padded_groups(*random_groups(0), spare=1)
    padded, valid = torch.from_numpy(padded).cuda(), torch.from_numpy(valid).cuda()
    for iou in (0.3, 0.6):
        expected = ssd_boxes.greedy_nms_torch(padded, valid, iou)
        assert torch.equal(greedy_nms_kernel(padded, valid, iou), expected)
    model = os.environ.get("EDGEWATCH_SSD_ONNX")
    detector = ssd_torch.TorchSsd(CONFIG, device="cuda", model_path=model, cuda_graphs=False)
    got = detector.detect(frames)
    monkeypatch.setattr(ssd_boxes, "greedy_nms", ssd_boxes.greedy_nms_torch)
    expected = detector.detect(frames)
    assert sum(len(d) for d in expected) >= 20  # not vacuous
    for e, g in zip(expected, got, strict=True):
        np.testing.assert_array_equal(g.class_id, e.class_id)
        np.testing.assert_array_equal(g.xyxy, e.xyxy)
