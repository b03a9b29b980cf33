"""Credentials from config, environment or a file; never from, or into, the logs."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import SecretStr

from edgewatch.errors import ConfigError


def resolve_secret(
    value: SecretStr | None, file: Path | None, env: str, *, what: str
) -> str | None:
    """The secret from, in order: the config value, the file it names, the environment."""
    if value is not None:
        return value.get_secret_value()
    if file is not None:
        try:
            return Path(file).read_text(encoding="utf-8").strip()
        except OSError as error:
            raise ConfigError(
                f"cannot read the {what} file {file} ({error.strerror})",
                "check the path and that edgewatch may read it",
            ) from None
    return os.environ.get(env) or None
