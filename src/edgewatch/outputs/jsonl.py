"""JSON Lines: one detection message per processed frame, appended to a file."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from pydantic import Field

from edgewatch.configbase import ConfigModel
from edgewatch.errors import EdgewatchError
from edgewatch.outputs.base import StreamInfo
from edgewatch.outputs.message import build_message
from edgewatch.types import Detections, Frame


class JsonlConfig(ConfigModel):
    """Detection messages as JSON Lines, one per processed frame."""

    path: Path | None = Field(None, description="File to write; nothing is written when unset.")


class JsonlSink:
    name = "jsonl"
    wants_annotated = False
    lossless = True

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._file = None

    def open(self, streams: Sequence[StreamInfo]) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Line-buffered: a crash loses at most the line being written.
            self._file = open(self.path, "w", encoding="utf-8", buffering=1)  # noqa: SIM115
        except OSError as error:
            raise EdgewatchError(
                f"cannot write JSON lines to {self.path} ({error.strerror})",
                "choose a writable path with --json-out",
            ) from None

    def write(self, frame: Frame, detections: Detections) -> None:
        message = build_message(frame, detections)
        try:
            self._file.write(json.dumps(message, separators=(",", ":")) + "\n")
        except OSError as error:
            raise self._failed(error) from None

    def close(self) -> None:
        if self._file is not None:
            file, self._file = self._file, None
            try:
                file.close()
            except OSError as error:
                raise self._failed(error) from None

    def _failed(self, error: OSError) -> EdgewatchError:
        return EdgewatchError(
            f"cannot write JSON lines to {self.path} ({error.strerror or error})",
            "free some space, or write elsewhere with --json-out",
        )
