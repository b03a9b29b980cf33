"""A check script run by Triton's interpreter on the CPU (CI has no GPU), in a process
of its own: the interpreter is chosen when Triton is imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).parents[1]


def run_in_interpreter(check: str, footage: Path):
    """``check``'s last line of output, as JSON; it gets the footage's path and the
    tests' folder as sys.argv[1:3]."""
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    result = subprocess.run(
        [sys.executable, "-c", check, str(footage), str(TESTS)],
        env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.splitlines()[-1])
