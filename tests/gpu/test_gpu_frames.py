"""NV12 frames as NVDEC hands them over, turned into detector input and host images: held
against OpenCV's conversions of the same real footage (on the CPU: no GPU needed).

Measured on the bundled clip: the conversion, rounded, equals OpenCV's exactly; the
detector input differs from the CPU path (resize BGR, then convert) by 0.19 on average
and 1 at most, from rounding and from OpenCV's fixed-point resize weights."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import read_frames

torch = pytest.importorskip("torch")

from edgewatch.gpu import frames as gpu_frames  # noqa: E402
from edgewatch.gpu.frames import detector_input, nv12_to_bgr_host, nv12_to_rgb  # noqa: E402

SAMPLED = [0, 100, 200]


def bgr_to_nv12(bgr: np.ndarray) -> np.ndarray:
    """What NVDEC would hand over for this picture: Y rows, then interleaved U,V rows."""
    height, width = bgr.shape[:2]
    i420 = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420)  # Y, then all U, then all V
    quarter = height * width // 4
    chroma = i420[height:].reshape(-1)
    u = chroma[:quarter].reshape(height // 2, width // 2)
    v = chroma[quarter:].reshape(height // 2, width // 2)
    uv = np.stack([u, v], axis=-1).reshape(height // 2, width)
    return np.ascontiguousarray(np.concatenate([i420[:height], uv]))


def cpu_detector_input(nv12: np.ndarray, size: int = 300) -> np.ndarray:
    """The CPU path's detector input (detect/ssd.py) from the same NV12 picture."""
    bgr = cv2.cvtColor(nv12, cv2.COLOR_YUV2BGR_NV12)
    resized = cv2.resize(bgr, (size, size), interpolation=cv2.INTER_LINEAR)
    return cv2.cvtColor(resized, cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def nv12_frames(vtest_path) -> list[np.ndarray]:
    """Three real 768x576 frames as NV12 (864, 768)."""
    return [bgr_to_nv12(bgr) for bgr in read_frames(vtest_path, SAMPLED)]


@pytest.fixture(scope="module")
def mixed_sizes(nv12_frames) -> list[np.ndarray]:
    """Full frames, crops and half-size frames interleaved, as cameras of a shard may be."""
    bgr = [cv2.cvtColor(nv12, cv2.COLOR_YUV2BGR_NV12) for nv12 in nv12_frames]
    crop = [bgr_to_nv12(np.ascontiguousarray(image[:480, :640])) for image in bgr]
    half = [bgr_to_nv12(cv2.resize(image, (384, 288))) for image in bgr]
    full = nv12_frames
    return [full[0], crop[0], half[0], full[1], half[1], crop[1], full[2], crop[2]]


def test_nv12_to_rgb_matches_opencv(nv12_frames):
    rgb = nv12_to_rgb(torch.from_numpy(np.stack(nv12_frames)))
    assert rgb.shape == (3, 3, 576, 768) and rgb.dtype == torch.float32
    got = rgb.permute(0, 2, 3, 1).numpy()
    expected = np.stack([cv2.cvtColor(n, cv2.COLOR_YUV2RGB_NV12) for n in nv12_frames])
    difference = np.abs(got - expected.astype(np.float32))
    assert difference.mean() < 1 and difference.max() <= 2  # measured 0.25 and 0.5
    assert np.abs(np.round(got) - expected).max() <= 1  # measured 0: the same matrix


def test_nv12_to_rgb_clamps_like_opencv_at_the_extremes():
    """Y under 16 is black and saturated chroma clips, as in OpenCV (max(0, Y-16))."""
    rng = np.random.default_rng(7)
    nv12 = rng.integers(0, 256, (2, 48, 64), dtype=np.uint8)
    got = np.round(nv12_to_rgb(torch.from_numpy(nv12)).permute(0, 2, 3, 1).numpy())
    expected = np.stack([cv2.cvtColor(n, cv2.COLOR_YUV2RGB_NV12) for n in nv12])
    assert got.min() >= 0 and got.max() <= 255
    assert np.abs(got - expected).max() <= 1


def test_nv12_to_rgb_names_a_wrong_shape():
    with pytest.raises(ValueError, match=r"\(2, 865, 768\)"):
        nv12_to_rgb(torch.zeros((2, 865, 768), dtype=torch.uint8))
    with pytest.raises(ValueError, match="N, H\\*3/2, W"):
        nv12_to_rgb(torch.zeros((864, 768), dtype=torch.uint8))


def test_detector_input_matches_the_cpu_path(nv12_frames):
    got = detector_input([torch.from_numpy(n) for n in nv12_frames])
    assert got.shape == (3, 300, 300, 3) and got.dtype == torch.uint8
    expected = np.stack([cpu_detector_input(n) for n in nv12_frames])
    difference = np.abs(got.numpy().astype(np.int16) - expected)
    # Measured 0.19 mean, 1 at most; align_corners=True or antialias=True give 2.4 mean.
    assert difference.mean() < 0.5 and difference.max() <= 2


def test_detector_input_keeps_the_order_of_mixed_sizes(mixed_sizes):
    got = detector_input([torch.from_numpy(n) for n in mixed_sizes]).numpy()
    for position, nv12 in enumerate(mixed_sizes):
        alone = detector_input([torch.from_numpy(nv12)]).numpy()[0]
        assert np.array_equal(got[position], alone), f"frame {position} out of place"
        difference = np.abs(got[position].astype(np.int16) - cpu_detector_input(nv12))
        assert difference.mean() < 0.5


def test_detector_input_converts_each_size_in_one_batch(mixed_sizes, monkeypatch):
    """Per-frame device calls were what made the first prototype slow."""
    batches = []

    resized_rgb = gpu_frames._resized_rgb

    def counting(nv12, size):
        batches.append(tuple(nv12.shape))
        return resized_rgb(nv12, size)

    monkeypatch.setattr(gpu_frames, "_resized_rgb", counting)
    detector_input([torch.from_numpy(n) for n in mixed_sizes], size=64)
    assert sorted(batches) == [(2, 432, 384), (3, 720, 640), (3, 864, 768)]


def test_detector_input_equals_converting_every_pixel_then_resizing(nv12_frames):
    """Only the pixels the resize samples are converted: the same result as the whole
    frame converted and then resized (PyTorch's bilinear), but for float rounding."""
    nv12 = torch.from_numpy(np.stack(nv12_frames))
    for size in (300, 64, 1000):  # down, far down, and up
        whole = torch.nn.functional.interpolate(
            nv12_to_rgb(nv12), size=(size, size), mode="bilinear", align_corners=False
        )
        expected = whole.round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
        got = detector_input(list(nv12), size).numpy()
        difference = np.abs(got.astype(np.int16) - expected)
        assert difference.max() <= 1 and difference.mean() < 0.001  # measured 1, 0.0001


def test_detector_input_clamps_each_pixel_before_blending():
    """Saturated colours next to dark ones: the conversion's clamps apply to each source
    pixel (as when the whole frame is converted first), not to the blend."""
    rng = np.random.default_rng(3)
    nv12 = torch.from_numpy(rng.integers(0, 256, (2, 96, 128), dtype=np.uint8))
    whole = torch.nn.functional.interpolate(
        nv12_to_rgb(nv12), size=(30, 30), mode="bilinear", align_corners=False
    )
    expected = whole.round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    got = detector_input(list(nv12), 30).numpy()
    assert np.abs(got.astype(np.int16) - expected).max() <= 1


def test_detector_input_of_no_frames_is_empty():
    assert detector_input([]).shape == (0, 300, 300, 3)


def test_nv12_to_bgr_host_matches_opencv(nv12_frames):
    nv12 = nv12_frames[1]
    bgr = nv12_to_bgr_host(torch.from_numpy(nv12))
    assert isinstance(bgr, np.ndarray) and bgr.dtype == np.uint8 and bgr.shape == (576, 768, 3)
    assert bgr.flags["C_CONTIGUOUS"]
    expected = cv2.cvtColor(nv12, cv2.COLOR_YUV2BGR_NV12)
    assert np.abs(bgr.astype(np.int16) - expected).max() <= 1  # measured 0


def test_detector_input_in_chunks_gives_the_same_batch(mixed_sizes, monkeypatch):
    # Large batches are converted a chunk at a time (bounded GPU memory): the result
    # must not depend on the chunk size, in order or scattered among sizes.
    frames = [torch.from_numpy(n) for n in mixed_sizes] * 3
    whole = detector_input(frames)
    monkeypatch.setattr(gpu_frames, "CHUNK", 2)
    chunked = detector_input(frames)
    assert chunked.is_contiguous() and torch.equal(chunked, whole)
    same_size = [f for f in frames if f.shape == frames[0].shape]
    assert torch.equal(
        detector_input(same_size),
        whole[[i for i, f in enumerate(frames) if f.shape == frames[0].shape]],
    )


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU (CI has none)")
def test_the_triton_kernel_gives_the_torch_chains_detector_input(nv12_frames):
    assert gpu_frames.triton_kernel_available(), "Triton did not import"
    nv12 = torch.from_numpy(np.stack(nv12_frames)).cuda()
    noise = torch.randint(0, 256, (2, 96, 128), dtype=torch.uint8, device="cuda")  # saturated
    for batch, size in ((nv12, 300), (nv12, 64), (nv12, 1000), (noise, 30)):
        got = gpu_frames._resized_rgb(batch, size)
        expected = gpu_frames._resized_rgb_torch(batch, size)
        assert got.shape == expected.shape == (len(batch), size, size, 3)
        difference = (got.int() - expected.int()).abs()
        # Only float rounding differs: the kernel multiplies and adds in one step.
        assert difference.max() <= 1 and difference.float().mean() < 0.005  # measured 0.0017
