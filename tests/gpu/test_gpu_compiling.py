"""torch.compile where it can run: the plain function where it cannot (CPU, in CI)."""

from __future__ import annotations

import logging

import pytest

torch = pytest.importorskip("torch")

from edgewatch.gpu.compiling import Compiled, can_compile  # noqa: E402


def test_the_cpu_is_never_compiled_for():
    assert not can_compile(torch.device("cpu"))


def test_a_failed_compile_runs_the_plain_function_from_then_on(caplog):
    calls = []

    def double(x):
        calls.append(x)
        return x * 2

    compiled = Compiled(double, "doubling")
    attempts = []

    def failing(*args):  # what torch.compile raises on a box without a C compiler
        attempts.append(args)
        raise RuntimeError("backend='inductor' raised: no C compiler found")

    compiled._compiled = failing
    with caplog.at_level(logging.WARNING, logger="edgewatch.gpu.compiling"):
        assert compiled(torch.tensor([3, 4])).tolist() == [6, 8]
        assert compiled(torch.tensor([5, 6])).tolist() == [10, 12]
    assert len(attempts) == 1 and len(calls) == 2  # tried once, then plain for good
    assert not compiled.compiling
    [record] = caplog.records
    assert "doubling runs uncompiled" in record.getMessage()
    assert "no C compiler" in record.getMessage()


def test_a_batch_of_one_runs_the_plain_function():
    """Compiling would specialize a batch of one: a second compile, as long as the first."""
    compiled = Compiled(lambda x: x + 1, "adding")
    attempts = []
    compiled._compiled = lambda *args: attempts.append(args)
    assert compiled(torch.tensor([1])).tolist() == [2]
    assert attempts == [] and compiled.compiling
    compiled(torch.tensor([1, 2]))
    assert len(attempts) == 1
