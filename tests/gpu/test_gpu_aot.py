"""The SSD compiled ahead of time: built once into the cache, loaded after, the plain
network where building fails. Built here for the CPU with a small network of the SSD's
kind (the whole SSD takes a minute to build on a 2-core box); on a GPU box the whole SSD
is built and checked against the plain one (tests/gpu/test_gpu_ssd_torch.py)."""

from __future__ import annotations

import logging

import pytest

torch = pytest.importorskip("torch")

from edgewatch.gpu import aot  # noqa: E402


class Small(torch.nn.Module):
    """uint8 NHWC images in, two float outputs: the SSD's interface, in a few ops."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.register_buffer("weight", torch.randn(6, 3, 3, 3))
        self.register_buffer("bias", torch.randn(6))

    def forward(self, image):
        x = image.float().permute(0, 3, 1, 2) / 255.0
        x = torch.nn.functional.conv2d(x, self.weight, self.bias, padding=1).clamp(0, 6)
        return x.mean((2, 3)), x.amax((2, 3)).sigmoid()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cache")
    network = Small().eval()
    example = torch.zeros((4, 16, 16, 3), dtype=torch.uint8)
    return network, example, folder, aot.CompiledNetwork(network, example, folder, "k1")


def test_the_compiled_network_gives_the_plain_ones_outputs_at_any_batch(built):
    network, _, folder, compiled = built
    assert list(folder.iterdir()) == [compiled.path]  # the package alone: no lock file
    for n in (2, 5, 1):  # 1: the plain network (see CompiledNetwork)
        images = torch.randint(0, 256, (n, 16, 16, 3), dtype=torch.uint8)
        for ours, theirs in zip(compiled(images), network(images), strict=True):
            assert ours.shape == theirs.shape
            torch.testing.assert_close(ours, theirs)


def test_a_built_package_is_loaded_not_built_again(built, monkeypatch):
    network, example, folder, first = built

    def build(*args):
        raise AssertionError("built again")

    monkeypatch.setattr(aot, "_build", build)
    again = aot.CompiledNetwork(network, example, folder, "k1")
    images = torch.randint(0, 256, (3, 16, 16, 3), dtype=torch.uint8)
    torch.testing.assert_close(again(images), first(images))


def test_where_building_fails_the_plain_network_runs(tmp_path, monkeypatch, caplog):
    def build(network, example, path):
        raise RuntimeError("no C++ compiler found")

    monkeypatch.setattr(aot, "_build", build)
    with caplog.at_level(logging.WARNING, logger="edgewatch.gpu.aot"):
        got = aot.compiled_network(
            Small(), torch.zeros((4, 16, 16, 3), dtype=torch.uint8), tmp_path, "k"
        )
    assert got is None
    assert "the SSD runs uncompiled" in caplog.text and "no C++ compiler" in caplog.text
    assert not list(tmp_path.glob("*.pt2*"))  # nothing half-made left for the next start


def test_the_key_follows_the_model_file_and_the_dtype(tmp_path):
    model = tmp_path / "model.onnx"
    model.write_bytes(b"one")
    cpu = torch.device("cpu")
    key = aot.package_key(model, cpu, torch.float16)
    assert key == aot.package_key(model, cpu, torch.float16)
    assert key != aot.package_key(model, cpu, torch.float32)
    model.write_bytes(b"two")
    assert key != aot.package_key(model, cpu, torch.float16)
