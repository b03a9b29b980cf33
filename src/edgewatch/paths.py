"""Where edgewatch finds and keeps things on the box: the sample clip, state, caches."""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

#: Real CCTV footage from Debian's opencv-doc: a fixed outdoor camera, people walking,
#: a parked van and car; 768x576, 10 fps, 795 frames.
SAMPLE_CLIP = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


def sample_clip() -> Path:
    """The bundled clip, or the file ``EDGEWATCH_SAMPLE_CLIP`` names."""
    override = os.environ.get("EDGEWATCH_SAMPLE_CLIP")
    return Path(override) if override else SAMPLE_CLIP


def default_state_dir() -> Path:
    """Queues, stores and snapshots that outlive a run: $XDG_STATE_HOME/edgewatch."""
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(base) / "edgewatch"


def default_cache_dir() -> Path:
    """What can be rebuilt (the ONNX model): $XDG_CACHE_HOME/edgewatch."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "edgewatch"


#: What edgewatch keeps on the box (queues, the event store, snapshots: pictures of people)
#: is for the user running it alone, whatever the umask says.
PRIVATE_DIR_MODE, PRIVATE_FILE_MODE = 0o700, 0o600


def make_private_dir(path: Path) -> Path:
    """Create ``path`` and missing parents as 0700 folders; existing folders keep their
    mode (the user chose it)."""
    path = Path(path)
    missing = []
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing.append(folder)
    for folder in reversed(missing):
        folder.mkdir(mode=PRIVATE_DIR_MODE, exist_ok=True)
    return path


def make_private_file(path: Path) -> Path:
    """Create ``path`` (and its folder) if missing, and make it 0600."""
    path = Path(path)
    make_private_dir(path.parent)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, PRIVATE_FILE_MODE))
    os.chmod(path, PRIVATE_FILE_MODE)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (readers never see half a file), mode 0600."""
    path = Path(path)
    make_private_dir(path.parent)
    partial = path.with_name(path.name + ".part")
    with open(
        os.open(partial, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, PRIVATE_FILE_MODE), "wb"
    ) as f:
        f.write(data)
    os.chmod(partial, PRIVATE_FILE_MODE)  # an earlier .part may have had another mode
    os.replace(partial, path)


@contextlib.contextmanager
def built_in_place(path: Path, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary file beside ``path`` for a builder to write (its name ends in
    ``suffix``). When the block ends well it becomes ``path`` whole (a process that looks
    meanwhile finds no file or the whole one), readable by all: a cache can be shared.
    When it fails, the temporary file goes."""
    path = Path(path)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        yield Path(temporary)
        os.chmod(temporary, 0o644)  # mkstemp makes it private
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def folder_locked(folder: Path) -> Iterator[None]:
    """Holds an exclusive lock on ``folder`` (which must exist) for the block: processes
    that make a file in it once (the web password) take turns, and the one
    that waited finds the file made. The folder is the lock: no lock file is left."""
    lock = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
    finally:
        os.close(lock)  # and with it the lock
