"""The box's own small databases (the MQTT outbox, the event store): one way to open them."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from edgewatch.errors import ConfigError
from edgewatch.paths import make_private_file


def open_database(
    path: Path, schema: str, *, what: str, setting: str, hint: str = ""
) -> sqlite3.Connection:
    """A SQLite file in WAL mode with synchronous=NORMAL: readers never block the writer, a
    process crash loses nothing, a power cut at most the last moments, and no write waits
    for a disk flush. The file is the user's alone (0600; SQLite gives its -wal and -shm
    files the same mode). Any failure is a `ConfigError` naming ``setting``."""
    try:
        make_private_file(path)
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(schema)
        return db
    except (OSError, sqlite3.Error) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise ConfigError(
            f"cannot open the {what} {path} ({reason})",
            f"set {setting} to a file in a folder edgewatch may write{hint}",
        ) from None


@contextlib.contextmanager
def transaction(db: sqlite3.Connection, begin: str = "BEGIN"):
    """One commit for what is inside, on a connection that autocommits (as
    `open_database` makes it); rolled back on any exception. ``begin``: "BEGIN
    IMMEDIATE" takes the write lock at once."""
    db.execute(begin)
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def open_readonly(path: Path, *, timeout: float = 5.0) -> sqlite3.Connection:
    """A read-only connection to another process's database (the pipeline writes, the
    web server reads): it can neither change the file nor create a missing one. Usable
    from any thread; the caller serialises its use."""
    uri = Path(path).resolve().as_uri() + "?mode=ro"
    return sqlite3.connect(uri, uri=True, timeout=timeout, check_same_thread=False)
