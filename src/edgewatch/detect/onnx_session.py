"""ONNX Runtime sessions as edgewatch's detectors want them."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

#: Threads when the config says 0. Measured on the 2-core target (ONNX Runtime 1.32):
#: 1 thread: 19.5 ms/frame, all on one core; 2: 11 ms when idle but ~21 ms CPU, and no
#: faster than 1 once decode and encode keep the other core busy.
DEFAULT_THREADS = 1


def create_session(path: str | Path, threads: int = 0):  # -> onnxruntime.InferenceSession
    """A session on the GPU when onnxruntime has CUDA, else on the CPU.

    Threads do not spin-wait between runs: the cores are shared with video decode and
    encode, which a spinning pool would slow down for no gain in detection speed.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = threads or DEFAULT_THREADS
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # errors only; ORT warns about unused initializers
    available = ort.get_available_providers()
    providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
    return ort.InferenceSession(str(path), sess_options=options, providers=providers)


def batches(images: Sequence[np.ndarray], size: int) -> Iterator[Sequence[np.ndarray]]:
    """Consecutive slices of at most `size` images."""
    for start in range(0, len(images), size):
        yield images[start : start + size]
