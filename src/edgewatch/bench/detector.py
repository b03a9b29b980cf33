"""Detector speed on real frames: ``python -m edgewatch.bench.detector --help``.

Prints wall-clock and CPU milliseconds per frame of `Detector.detect` (resize, inference,
post-processing, filters), so settings can be compared on the machine that will run them.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2

from edgewatch.detect import create_detector
from edgewatch.detect.base import DetectorConfig
from edgewatch.machine import describe_machine
from edgewatch.paths import sample_clip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=sample_clip())
    parser.add_argument("--frames", type=int, default=96, help="frames to time")
    parser.add_argument("--runtime", choices=["onnxruntime", "opencv"], default="onnxruntime")
    parser.add_argument("--threads", type=int, nargs="+", default=[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args(argv)

    print(describe_machine())
    capture = cv2.VideoCapture(str(args.video))
    frames = [capture.read()[1] for _ in range(args.frames)]
    if any(f is None for f in frames):
        parser.error(f"{args.video}: fewer than {args.frames} frames")
    for threads in args.threads:
        for batch in args.batch:
            config = DetectorConfig(runtime=args.runtime, threads=threads, batch_size=batch)
            detector = create_detector(config)
            detector.detect(frames[:batch])  # warm up
            wall, cpu = time.perf_counter(), time.process_time()
            for start in range(0, len(frames), batch):
                detector.detect(frames[start : start + batch])
            wall = (time.perf_counter() - wall) * 1000 / len(frames)
            cpu = (time.process_time() - cpu) * 1000 / len(frames)
            print(
                f"{args.runtime} threads={threads or 'default'} batch={batch}: "
                f"{wall:.1f} ms/frame wall, {cpu:.1f} ms/frame CPU ({1000 / wall:.0f} frames/s)"
            )


if __name__ == "__main__":
    main()
