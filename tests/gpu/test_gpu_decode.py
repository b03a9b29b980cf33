"""Decoding for the GPU engine, on the CPU decoder (CI has no NVDEC): a primed decoder
(its first frame decoded early, as shards do before a benchmark starts) yields exactly
the frames an unprimed one does. On a machine with NVDEC: a live camera's frame comes
back with its own packet."""

from __future__ import annotations

import itertools

import pytest

torch = pytest.importorskip("torch")

from edgewatch.gpu.decode import CpuDecoder, NvDecoder  # noqa: E402


def first(decoder: CpuDecoder, count: int) -> list:
    return list(itertools.islice(decoder.frames(), count))


def test_a_primed_decoder_yields_the_same_frames_from_the_first(vtest_path):
    plain = first(CpuDecoder(str(vtest_path)), 5)
    primed_decoder = CpuDecoder(str(vtest_path))
    assert primed_decoder.prime()
    primed = first(primed_decoder, 5)
    assert [index for index, _ in primed] == [0, 1, 2, 3, 4]
    for (_, a), (_, b) in zip(plain, primed, strict=True):
        assert a.shape == (576 * 3 // 2, 768) and torch.equal(a, b)
    assert len({frame.sum().item() for _, frame in primed}) > 1  # real, moving footage


def test_a_primed_looped_decoder_starts_again_at_the_end(vtest_path):
    decoder = CpuDecoder(str(vtest_path), loop=True)
    decoder.prime()
    frames = first(decoder, 800)  # the clip has 795 frames
    assert [index for index, _ in frames] == list(range(800))
    assert torch.equal(frames[795][1], frames[0][1])


def test_pace_is_asked_before_each_packet_goes_in(vtest_path):
    asked: list[int] = []
    decoder = CpuDecoder(str(vtest_path))
    decoder.prime()  # the first packet went in before anyone paced
    frames = list(itertools.islice(decoder.frames(pace=asked.append), 4))
    assert [index for index, _ in frames] == [0, 1, 2, 3]
    assert asked == [1, 2, 3]  # each before its frame: frame 0 was primed


def packets_in_at_each_frame(decoder, count: int) -> tuple[list[int], list]:
    """How many packets had gone into the decoder when each of the first frames came out."""
    packets, frames = [], []
    for _, frame in itertools.islice(decoder.frames(), count):
        packets.append(decoder._packets)
        frames.append(frame)
    return packets, frames


def test_nvdec_returns_a_live_cameras_frame_with_its_own_packet(nvdec_clip):
    live, live_frames = packets_in_at_each_frame(NvDecoder(nvdec_clip, immediate=True), 5)
    fast, fast_frames = packets_in_at_each_frame(NvDecoder(nvdec_clip), 5)
    assert live == [1, 2, 3, 4, 5]  # each frame with its packet
    assert fast == [2, 3, 4, 5, 6]  # a file read for throughput: one packet behind
    for a, b in zip(live_frames, fast_frames, strict=True):
        assert a.is_cuda and torch.equal(a, b)
