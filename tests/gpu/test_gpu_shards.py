"""plan_shards deals cameras over decode processes and processes over GPUs; the default
number of processes follows the H200 decode measurements."""

from __future__ import annotations

import pytest

from edgewatch.gpu.shards import Shard, default_processes, plan_shards

CAMERAS = [f"cam{i:02d}" for i in range(23)]


def test_shards_are_balanced():
    shards = plan_shards(CAMERAS, processes=8, devices=[0])
    sizes = [len(shard.cameras) for shard in shards]
    assert len(shards) == 8 and max(sizes) - min(sizes) <= 1


def test_every_camera_is_in_exactly_one_shard():
    shards = plan_shards(CAMERAS, processes=5, devices=[0, 1])
    placed = [camera for shard in shards for camera in shard.cameras]
    assert sorted(placed) == sorted(CAMERAS)


def test_cameras_are_dealt_round_robin():
    shards = plan_shards(["a", "b", "c", "d", "e"], processes=2, devices=[0])
    assert [shard.cameras for shard in shards] == [("a", "c", "e"), ("b", "d")]


def test_shards_are_dealt_over_devices_round_robin():
    shards = plan_shards(CAMERAS, processes=8, devices=[0, 1, 3])
    assert [shard.device for shard in shards] == [
        "cuda:0", "cuda:1", "cuda:3", "cuda:0", "cuda:1", "cuda:3", "cuda:0", "cuda:1",
    ]  # fmt: skip
    assert [shard.index for shard in shards] == list(range(8))


def test_fewer_cameras_than_processes_leaves_no_shard_empty():
    shards = plan_shards(["front", "back"], processes=8, devices=[0, 1])
    assert shards == [
        Shard(index=0, device="cuda:0", cameras=("front",)),
        Shard(index=1, device="cuda:1", cameras=("back",)),
    ]


def test_no_cameras_no_shards():
    assert plan_shards([], processes=4, devices=[0]) == []


def test_the_plan_is_deterministic():
    assert plan_shards(CAMERAS, 6, [0, 1]) == plan_shards(list(CAMERAS), 6, (0, 1))


@pytest.mark.parametrize(
    "cameras, processes, devices, message",
    [
        (["a"], 0, [0], "processes"),
        (["a"], 1, [], "devices"),
        (["a", "b", "a"], 2, [0], "repeated: a"),
    ],
)
def test_bad_plans_are_refused(cameras, processes, devices, message):
    with pytest.raises(ValueError, match=message):
        plan_shards(cameras, processes, devices)


@pytest.mark.parametrize(
    "streams, cpu_cores, expected",
    [
        (64, 16, 16),  # one per core: the per-frame Python work bounds the engine
        (8, 64, 8),  # no more processes than cameras
        (3, 32, 3),
        (10, 1, 1),  # at least one process on a one-core box
        (0, 16, 0),  # no cameras, nothing to decode
    ],
)
def test_default_processes(streams, cpu_cores, expected):
    assert default_processes(streams, cpu_cores) == expected
