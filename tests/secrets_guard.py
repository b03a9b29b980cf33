"""A pytest plugin: no test password may appear in anything the suite's runs print.

It reads every captured output of every test (stdout, stderr, log records), everything
the `edgewatch` command printed in the tests' subprocesses (`record_output`), and every
log record that reaches the root logger. A test password found anywhere fails the whole
session, naming the test. Keep TEST_SECRETS in step with the passwords tests use.
"""

from __future__ import annotations

import logging
import os

import pytest

TEST_SECRETS = (
    "edge-secret",  # Mosquitto.PASSWORD, the local TLS broker's
    "hunter2",
    "s3cret",
    "Zq8-not-in-logs",
    "do-not-leak",
    "do-not-print",
    "token-1f",
    "token-9e",
    "pw-5e1d",
    "pw-7c2e",
    "pw-77a1",
    "pw-77c1",
    "tok-3f9a",
    "PASS@",  # the red-team's rtsp://u:PASS@... camera
)

leaks: list[str] = []
scanned = {"texts": 0}


def scan(text: str, where: str) -> None:
    scanned["texts"] += 1
    for secret in TEST_SECRETS:
        if secret in text:
            test = os.environ.get("PYTEST_CURRENT_TEST", "?").rsplit(" ", 1)[0]
            leaks.append(f"{test}: {secret!r} in {where}")


def record_output(*texts: str) -> None:
    """What a subprocess printed (the edgewatch command's stdout and stderr)."""
    for text in texts:
        if text:
            scan(text, "the output of an edgewatch command")


class _Scanner(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            scan(self.format(record), f"a log record of {record.name}")
        except Exception:
            self.handleError(record)


def pytest_configure(config: pytest.Config) -> None:
    handler = _Scanner(level=logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logging.getLogger().addHandler(handler)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    for title, text in report.sections:
        scan(text, title)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if leaks:
        terminalreporter.section("test passwords found in output", red=True)
        for leak in dict.fromkeys(leaks):
            terminalreporter.line(leak)
    else:
        terminalreporter.line(
            f"secrets guard: {scanned['texts']} outputs scanned, no test password in any"
        )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if leaks:
        session.exitstatus = 1
