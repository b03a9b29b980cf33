"""The `web:` section (the dashboard `edgewatch run` and `edgewatch web` serve) and its
credentials: the login password and the optional API token.

With no password configured, the first start makes one up and keeps it in
``<state dir>/web-password`` (0600), so the dashboard is never open to anyone who reaches
the port, and the same password works after a restart. Logs name that file, never the
password.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from pathlib import Path

from pydantic import Field, SecretStr

from edgewatch.clients.secrets import resolve_secret
from edgewatch.configbase import ConfigModel
from edgewatch.durations import Duration
from edgewatch.errors import ConfigError
from edgewatch.paths import PRIVATE_FILE_MODE, default_state_dir, folder_locked, make_private_dir

log = logging.getLogger(__name__)

PASSWORD_ENV = "EDGEWATCH_WEB_PASSWORD"
API_TOKEN_ENV = "EDGEWATCH_WEB_API_TOKEN"
GENERATED_PASSWORD_FILE = "web-password"


class WebConfig(ConfigModel):
    """The web dashboard: live pictures, the reference panels, events and counts, system."""

    enabled: bool = Field(
        True, description="Serve the dashboard while `edgewatch run` runs (off: --no-web)."
    )
    host: str = Field(
        "127.0.0.1",
        description="Address to listen on. 127.0.0.1 keeps it on this machine; 0.0.0.0 "
        "serves every network interface.",
    )
    port: int = Field(8971, ge=1, le=65535, description="TCP port of the dashboard.")
    username: str = Field("admin", min_length=1, description="The dashboard's login name.")
    password: SecretStr | None = Field(
        None,
        description="The login password; or password_file, or EDGEWATCH_WEB_PASSWORD. "
        "None of them: the first start generates one into <state dir>/web-password (0600).",
    )
    password_file: Path | None = Field(None, description="File holding the login password.")
    api_token: SecretStr | None = Field(
        None,
        description="Bearer token for scripts and Home Assistant (Authorization: Bearer "
        "TOKEN) instead of a login; or api_token_file, or EDGEWATCH_WEB_API_TOKEN. None: "
        "the API takes logged-in browsers only.",
    )
    api_token_file: Path | None = Field(None, description="File holding the API token.")
    session_ttl: Duration = Field(
        12 * 3600.0, gt=0, description="A login lasts this long (e.g. 12h), then asks again."
    )
    live_fps: float = Field(
        10.0,
        gt=0,
        le=60,
        description="Live pictures per second per camera at most (each is a JPEG encoded "
        "only while a browser shows that camera).",
    )
    jpeg_quality: int = Field(80, ge=1, le=100, description="JPEG quality of live pictures.")
    history_path: Path = Field(
        default_factory=lambda: default_state_dir() / "history.sqlite3",
        description="The embedded history (SQLite) behind the panels: the reported frames "
        "and their objects, as the MQTT and InfluxDB outputs see them.",
    )
    history_retention: Duration = Field(
        7 * 86400.0, gt=0, description="History older than this (e.g. 7d) is deleted."
    )


def generated_password_path() -> Path:
    """Where a generated password is kept: ``<state dir>/web-password``."""
    return default_state_dir() / GENERATED_PASSWORD_FILE


def web_password(config: WebConfig) -> tuple[str, Path | None]:
    """The login password and the file that holds it (None when it came from the config
    or the environment): ``password``, ``password_file``, $EDGEWATCH_WEB_PASSWORD, or
    else the generated one (made on the first start, then reused)."""
    password = resolve_secret(
        config.password, config.password_file, PASSWORD_ENV, what="web password"
    )
    if config.password is None and config.password_file is not None:
        if not password:
            raise ConfigError(
                f"the web password file {config.password_file} is empty",
                "write the password into it, or remove web.password_file to have one generated",
            )
        return password, Path(config.password_file)
    if password:
        return password, None
    path = generated_password_path()
    return _generated(path), path


def web_api_token(config: WebConfig) -> str | None:
    """The API bearer token: ``api_token``, ``api_token_file``, $EDGEWATCH_WEB_API_TOKEN;
    None when none is set (never generated: scripts need it written down anyway)."""
    token = resolve_secret(
        config.api_token, config.api_token_file, API_TOKEN_ENV, what="web API token"
    )
    if config.api_token is None and config.api_token_file is not None and not token:
        raise ConfigError(
            f"the web API token file {config.api_token_file} is empty",
            "write the token into it, or remove web.api_token_file",
        )
    return token or None


def _generated(path: Path) -> str:
    """The password kept at ``path``, made first if there is none: under a lock on its
    folder and moved into place whole, so two processes starting at once (`run` and
    `web`) agree on one password, and nobody reads half a file."""
    existing = _read(path)
    if existing:
        return existing
    password = secrets.token_urlsafe(18)
    partial = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.part")
    try:
        make_private_dir(path.parent)
        with folder_locked(path.parent):
            existing = _read(path)  # another process made it while this one waited
            if existing:
                return existing
            fd = os.open(partial, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, PRIVATE_FILE_MODE)
            with open(fd, "w", encoding="utf-8") as f:
                f.write(password + "\n")
            os.chmod(partial, PRIVATE_FILE_MODE)
            os.replace(partial, path)  # missing, or there but empty
    except OSError as error:
        raise ConfigError(
            f"cannot write the generated web password to {path} ({error.strerror})",
            "set web.password or web.password_file, or make the state folder writable",
        ) from None
    finally:
        partial.unlink(missing_ok=True)
    log.info("web: no password configured; generated one into %s", path)
    return password


def _read(path: Path) -> str | None:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise ConfigError(
            f"cannot read the web password file {path} ({error.strerror})",
            "check that edgewatch may read it, or set web.password_file",
        ) from None
    with contextlib.suppress(OSError):  # not ours to change: the password still works
        if text and path.stat().st_mode & 0o077:
            os.chmod(path, PRIVATE_FILE_MODE)
            log.warning("web: %s was readable by others; made it private (0600)", path)
    return text or None
