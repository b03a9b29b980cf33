"""Errors a user can fix. The CLI prints them as one line, without a traceback."""

from __future__ import annotations


class EdgewatchError(Exception):
    """A problem with the user's input or machine, with the fix in ``hint``."""

    def __init__(self, problem: str, hint: str = "") -> None:
        super().__init__(problem)
        self.problem = problem
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.problem} — {self.hint}" if self.hint else self.problem


class ConfigError(EdgewatchError):
    """The configuration file or command-line flags are invalid."""


class SourceError(EdgewatchError):
    """A video source cannot be opened or read."""


class MissingDependencyError(EdgewatchError):
    """An optional package or system library is not installed."""

    def __init__(self, what: str, install: str) -> None:
        super().__init__(f"{what} is not installed", f"install it with: {install}")


class WorkerCrashed(EdgewatchError):
    """A worker thread failed beyond restarting: the command ends non-zero, so that the
    service manager (systemd) starts it again."""

    def __init__(self, what: str) -> None:
        super().__init__(what, "the traceback is logged above; exiting so systemd restarts it")
