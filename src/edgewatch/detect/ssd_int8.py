"""An int8 build of the bundled SSD: ONNX Runtime static quantization, calibrated on frames
of the real footage, cached beside the fp32 build.

Weights are int8 per output channel in 7 bits (``reduce_range``: CPUs without VNNI add
int8 products in 16 bits, which saturate with 8-bit weights), activations uint8 with
ranges measured on 40 frames spread over the sample clip (QDQ format: ONNX Runtime fuses
it into integer kernels). The 6 class predictor convolutions stay fp32: their scores
decide what is reported. Measured on the footage (every third frame, 2-core AVX2): 96.5%
of fp32's detections kept, 3.1% added, about 1.5x faster; without ``reduce_range`` and
the fp32 class heads it kept only 83%. `edgewatch bench` measures speed and accuracy again.

``precision: auto`` takes int8 where it is faster: the first run on a machine times both
builds and remembers the answer per CPU model in the cache folder.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from pathlib import Path

import numpy as np

from edgewatch.detect.ssd_onnx_build import HEAD_METADATA_KEY
from edgewatch.errors import MissingDependencyError
from edgewatch.machine import cpu_model, vector_extensions
from edgewatch.paths import built_in_place, sample_clip

log = logging.getLogger(__name__)

#: Bump when the quantization changes, so that older int8 builds are not used.
QUANTIZER_VERSION = 2
CALIBRATION_FRAMES = 40
INPUT = "image_tensor"
FASTER_BY = 1.1  # auto takes int8 only when it is at least this much faster


def calibration_images(size: int = 300, count: int = CALIBRATION_FRAMES) -> list[np.ndarray]:
    """``count`` frames spread over the sample clip, as the network sees them (RGB)."""
    import cv2

    clip = sample_clip()
    if not clip.exists():
        raise MissingDependencyError(
            f"the sample clip {clip}, whose frames calibrate the int8 detector",
            "apt-get install opencv-doc (or set detector.precision: fp32)",
        )
    capture = cv2.VideoCapture(str(clip))
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or 795
    wanted = set(np.linspace(0, total - 1, count).astype(int).tolist())
    images, index = [], 0
    while len(images) < len(wanted):
        ok, image = capture.read()
        if not ok:
            break
        if index in wanted:
            resized = cv2.resize(image, (size, size), interpolation=cv2.INTER_LINEAR)
            images.append(cv2.cvtColor(resized, cv2.COLOR_BGR2RGB))
        index += 1
    capture.release()
    return images


def cached_ssd_int8(fp32: Path) -> Path:
    """The int8 build of ``fp32`` (whose name carries its content key), built once."""
    path = fp32.with_name(f"{fp32.stem}-int8-q{QUANTIZER_VERSION}.onnx")
    if path.exists():
        return path
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    images = calibration_images()
    source = onnx.load(str(fp32), load_external_data=False)
    class_heads = [
        n.name for n in source.graph.node if n.op_type == "Conv" and "ClassPredictor" in n.name
    ]

    class Frames(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter({INPUT: image[None]} for image in images)

        def get_next(self) -> dict | None:
            return next(self.batches, None)

    log.info("building the int8 detector %s, calibrated on %d frames (once; ~10 s)",
             path, len(images))  # fmt: skip
    with built_in_place(path) as temporary:
        quantize_static(
            str(fp32), str(temporary), Frames(), quant_format=QuantFormat.QDQ,
            per_channel=True, reduce_range=True, weight_type=QuantType.QInt8,
            activation_type=QuantType.QUInt8, nodes_to_exclude=class_heads,
        )  # fmt: skip
        model = onnx.load(temporary)
        head = {p.key: p.value for p in source.metadata_props}[HEAD_METADATA_KEY]
        onnx.helper.set_model_props(model, {HEAD_METADATA_KEY: head})
        onnx.save(model, temporary)
    return path


def int8_is_faster(fp32: Path, int8: Path, threads: int) -> bool:
    """Whether the int8 build runs faster on this CPU: timed on the first run (about a
    second) and remembered in the cache folder, per CPU model and build."""
    from edgewatch.detect.onnx_session import create_session

    record = fp32.with_name("precision.json")
    key = f"{cpu_model()}|{' '.join(vector_extensions())}|{fp32.name}|{int8.name}|{threads}"
    try:
        known = json.loads(record.read_text())
    except (OSError, ValueError):
        known = {}
    if key not in known:
        image = calibration_images(count=2)[0][None]
        times = {}
        for name, path in (("fp32", fp32), ("int8", int8)):
            session = create_session(path, threads)
            for _ in range(2):
                session.run(None, {INPUT: image})
            started = time.perf_counter()
            for _ in range(8):
                session.run(None, {INPUT: image})
            times[name] = (time.perf_counter() - started) / 8
        known[key] = times["fp32"] / times["int8"]
        log.info("int8 detector: %.1f ms a frame, fp32: %.1f ms (%.2fx) on this CPU",
                 1000 * times["int8"], 1000 * times["fp32"], known[key])  # fmt: skip
        with contextlib.suppress(OSError):  # a read-only cache: time it again next start
            record.write_text(json.dumps(known, indent=1))
    return known[key] >= FASTER_BY
