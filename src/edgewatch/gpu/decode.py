"""Decoding one camera (files, RTSP and HTTP URLs) into NV12 frames for the GPU engine:
on NVDEC (`NvDecoder`), or on the CPU (`CpuDecoder`: a box without NVDEC, and the
engine's tests on machines without a GPU).

PyNvVideoCodec's demuxer (FFmpeg inside) reads the source on the CPU; the decoder runs
on the GPU's NVDEC engines and hands each frame as a CUDA array that `torch.from_dlpack`
takes without a copy: (H*3/2, W) uint8, the Y plane then the interleaved UV rows. The
decoder reuses its surfaces, so a frame kept past the next `Decode` is cloned first.
PyNvVideoCodec releases the GIL while it decodes: one thread per camera keeps several
NVDEC sessions busy from one process.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

import torch

from edgewatch.gpu.device import primary_context

log = logging.getLogger(__name__)


def nvdec_available() -> bool:
    """PyNvVideoCodec imports and a CUDA device is there."""
    try:
        import PyNvVideoCodec  # noqa: F401
    except ImportError:
        return False
    return torch.cuda.is_available()


class _Decoder:
    """`frames` over a subclass's `_frames`, after `prime` if it was called."""

    _primed: tuple[int, torch.Tensor] | None = None
    _stream: Iterator[tuple[int, torch.Tensor]] | None = None
    _pace: Callable[[int], None] | None = None
    _packets = 0  # packets (frames, on the CPU) read so far

    def prime(self) -> bool:
        """Decodes the first frame now and keeps it for `frames`; False if there is none.
        NVDEC creates a decoding session only when the first packets arrive, and a
        hundred cameras opening at once queue for the driver for seconds: a shard primes
        its decoders before it counts itself ready, so a benchmark's clock (and a paced
        camera's schedule) starts at a frame, not at a session still being made."""
        self._stream = self._frames()
        self._primed = next(self._stream, None)
        return self._primed is not None

    def frames(
        self, pace: Callable[[int], None] | None = None
    ) -> Iterator[tuple[int, torch.Tensor]]:
        """Every frame in order as (index, NV12 tensor); a looped file starts again.
        ``pace(n)`` is called before the n-th packet goes into the decoder: a file
        standing in for a live camera gets its packets at the camera's pace, and a
        frame's delay in the decoder counts in its latency as it would live."""
        self._pace = pace
        stream = self._stream or self._frames()
        if self._primed is not None:
            first, self._primed = self._primed, None
            yield first
        yield from stream

    def _frames(self) -> Iterator[tuple[int, torch.Tensor]]:
        raise NotImplementedError

    def _next_packet(self) -> None:
        if self._pace is not None:
            self._pace(self._packets)
        self._packets += 1


class NvDecoder(_Decoder):
    """Decodes ``source`` on GPU ``gpu_id``; `frames` yields (index, NV12 tensor)."""

    def __init__(
        self, source: str, gpu_id: int = 0, *, loop: bool = False, immediate: bool = False
    ) -> None:
        import PyNvVideoCodec as nvc

        self._nvc, self.source, self.gpu_id, self.loop = nvc, source, gpu_id, loop
        self._demuxer = nvc.CreateDemuxer(filename=source)
        # A stream of its own: on the default (legacy) stream each frame's copy off the
        # decoder, and the decoder's wait for it, would queue behind every batch the
        # shard's detector has in flight on the GPU.
        self._cuda_stream = torch.cuda.Stream(torch.device("cuda", gpu_id))
        options = dict(
            gpuid=gpu_id,
            codec=self._demuxer.GetNvCodecId(),
            # PyTorch's context: given 0, PyNvVideoCodec makes a context per decoder, and
            # contexts take turns on the GPU (H200, 8 decoding threads in one process:
            # 1,550 frames/s, 1,854 in the one context).
            cudacontext=primary_context(gpu_id),
            cudastream=self._cuda_stream.cuda_stream,
            usedevicememory=True,
        )
        # By default NVDEC holds 4 frames before it shows one (133 ms at 30 fps); LOW
        # shows each as soon as display order allows (at once without B-frames, as
        # cameras send). Older PyNvVideoCodec builds have no such option.
        latency = getattr(getattr(nvc, "DisplayDecodeLatencyType", None), "LOW", None)
        try:
            self._decoder = nvc.CreateDecoder(**options, latency=latency)
        except TypeError:
            self._decoder = nvc.CreateDecoder(**options)
        # ``immediate`` (a live or paced camera): each packet is marked as a whole
        # picture (a demuxed packet is one), and Decode returns its frame at once;
        # unmarked, the parser learns that the picture ended only from the next packet,
        # one frame (33 ms at 30 fps) later. A file read as fast as it goes stays
        # unmarked: NVDEC then decodes one frame while the next is handed in (H200, 128
        # streams: 4,951 frames/s unmarked, 4,260 marked; paced, p95 395 -> 153 ms).
        flags = getattr(nvc, "VideoPacketFlag", None)  # older builds: none
        self._whole_picture = getattr(flags, "ENDOFPICTURE", None) if immediate else None
        rate = getattr(self._demuxer, "FrameRate", None)
        self.fps = float(rate() if callable(rate) else 0.0) or 30.0
        self.decode_s = 0.0  # time spent in the decoder, for the stage figures

    def _frames(self) -> Iterator[tuple[int, torch.Tensor]]:
        """Every frame in order, as a CUDA tensor the caller owns (cloned off the
        decoder's surface); a looped file starts again at its end."""
        index, stream = 0, self._cuda_stream
        while True:
            for packet in self._demuxer:
                if self._whole_picture is not None:
                    packet.decode_flag = self._whole_picture
                self._next_packet()
                started = time.perf_counter()
                decoded = self._decoder.Decode(packet)
                with torch.cuda.stream(stream):
                    frames = [torch.from_dlpack(surface).clone() for surface in decoded]
                if frames:
                    # Done before it is handed over: its readers use other streams.
                    stream.synchronize()
                self.decode_s += time.perf_counter() - started
                for frame in frames:
                    yield index, frame
                    index += 1
            if not self.loop:
                return
            # A new demuxer from the start; the decoder (and its NVDEC session) stays.
            self._demuxer = self._nvc.CreateDemuxer(filename=self.source)


class CpuDecoder(_Decoder):
    """`NvDecoder`'s interface over OpenCV's (FFmpeg) CPU decoding: NV12 tensors on the
    host. For a box without NVDEC, and for testing the engine where there is no GPU."""

    def __init__(
        self, source: str, gpu_id: int = 0, *, loop: bool = False, immediate: bool = False
    ) -> None:
        import cv2

        self._cv2, self.source, self.loop = cv2, source, loop
        # A network camera that stops sending ends the stream after 5 s, not FFmpeg's 30.
        timeouts = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 5000, cv2.CAP_PROP_READ_TIMEOUT_MSEC, 5000]
        self._capture = cv2.VideoCapture(source, cv2.CAP_FFMPEG, timeouts)
        if not self._capture.isOpened():
            raise OSError(f"cannot open {source}")
        self.fps = float(self._capture.get(cv2.CAP_PROP_FPS) or 0.0) or 30.0
        self.decode_s = 0.0

    def _frames(self) -> Iterator[tuple[int, torch.Tensor]]:
        cv2, index = self._cv2, 0
        while True:
            self._next_packet()
            started = time.perf_counter()
            ok, image = self._capture.read()
            if not ok:
                self._packets -= 1  # the end of the file is no frame
                if not self.loop or index == 0:
                    return
                self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
                continue
            nv12 = i420_to_nv12(cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420))
            self.decode_s += time.perf_counter() - started
            yield index, torch.from_numpy(nv12)
            index += 1


def i420_to_nv12(i420):
    """(H*3/2, W) planar YUV 4:2:0 (Y, then U, then V) to NV12 (Y, then U and V
    interleaved)."""
    import numpy as np

    width = i420.shape[1]
    height = i420.shape[0] * 2 // 3
    quarter = (height // 2) * (width // 2)
    chroma = i420[height:].reshape(-1)
    nv12 = np.empty_like(i420)
    nv12[:height] = i420[:height]
    uv = nv12[height:].reshape(-1)
    uv[0::2], uv[1::2] = chroma[:quarter], chroma[quarter:]
    return nv12


def open_decoder(
    source: str, gpu_id: int, *, loop: bool, kind: str = "nvdec", immediate: bool = False
):
    """The decoder ``kind`` asks for: "nvdec" (the GPU's) or "cpu" (OpenCV returns each
    frame with its packet anyway: ``immediate`` changes nothing there)."""
    decoder = NvDecoder if kind == "nvdec" else CpuDecoder
    return decoder(source, gpu_id, loop=loop, immediate=immediate)
