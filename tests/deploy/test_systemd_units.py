"""deploy/systemd: each unit runs a real edgewatch command and restarts it on failure."""

import configparser
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import VENV_BIN

from edgewatch.cli import build_parser

UNITS = sorted((Path(__file__).resolve().parents[2] / "deploy" / "systemd").glob("*.service"))


def unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read(path)
    return parser


def test_there_is_a_unit_for_run_ingest_and_forward():
    commands = [shlex.split(unit(path)["Service"]["ExecStart"])[1] for path in UNITS]
    assert sorted(commands) == ["forward", "ingest", "run"]


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_unit_restarts_on_failure_as_the_edgewatch_user_with_private_state(path):
    service = unit(path)["Service"]
    assert service["Restart"] == "on-failure"  # a non-zero exit is a recovery, a clean stop not
    assert service["User"] == "edgewatch" and service["UMask"] == "0077"
    assert service["StateDirectoryMode"] == "0700"
    argv = shlex.split(service["ExecStart"])
    args = build_parser().parse_args(argv[1:])  # the command and its flags exist
    assert argv[0].endswith("/edgewatch") and str(args.config).startswith("/etc/edgewatch/")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_systemd_accepts_the_unit(path, tmp_path):
    # verify checks that ExecStart's program exists: point it at this checkout's.
    text = path.read_text().replace(
        "/opt/edgewatch/.venv/bin/edgewatch", str(VENV_BIN / "edgewatch")
    )
    copy = tmp_path / path.name
    copy.write_text(text)
    result = subprocess.run(
        ["systemd-analyze", "verify", str(copy)], capture_output=True, text=True
    )
    problems = [line for line in result.stderr.splitlines() if path.name in line]
    assert result.returncode == 0 and not problems, result.stderr
