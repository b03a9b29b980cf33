"""The `web:` section's credentials: the password from config, file or environment, or
generated once into a private file and reused; never written to the logs."""

from __future__ import annotations

import logging
import stat
import threading

import pytest

from edgewatch.errors import ConfigError
from edgewatch.outputs.web import (
    API_TOKEN_ENV,
    PASSWORD_ENV,
    WebConfig,
    generated_password_path,
    web_api_token,
    web_password,
)


@pytest.fixture(autouse=True)
def state_dir(tmp_path, monkeypatch):
    """A state folder of this test's own, and none of the user's variables."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    monkeypatch.delenv(API_TOKEN_ENV, raising=False)
    return tmp_path / "state" / "edgewatch"


def test_defaults_are_the_documented_ones():
    web = WebConfig()
    assert (web.enabled, web.host, web.port, web.username) == (True, "127.0.0.1", 8971, "admin")
    assert web.session_ttl == 12 * 3600 and web.history_retention == 7 * 86400
    assert (web.live_fps, web.jpeg_quality) == (10, 80)
    assert web.history_path.name == "history.sqlite3"


def test_durations_are_written_as_people_write_them():
    web = WebConfig(session_ttl="30m", history_retention="2w")
    assert web.session_ttl == 1800 and web.history_retention == 14 * 86400
    with pytest.raises(ValueError):
        WebConfig(session_ttl="soon")


def test_without_a_password_one_is_generated_into_a_private_file_and_reused(state_dir, caplog):
    caplog.set_level(logging.DEBUG)
    password, path = web_password(WebConfig())
    assert path == state_dir / "web-password" == generated_password_path()
    assert len(password) >= 20
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
    assert path.read_text().strip() == password
    assert str(path) in caplog.text  # the log says where it is ...
    assert password not in caplog.text  # ... never what it is
    again, same_path = web_password(WebConfig())  # the next start
    assert (again, same_path) == (password, path)
    assert [p.name for p in state_dir.iterdir()] == ["web-password"]  # no leftovers


def test_processes_starting_at_once_agree_on_one_generated_password():
    found: list[tuple[str, object]] = []
    threads = [threading.Thread(target=lambda: found.append(web_password(WebConfig())))
               for _ in range(8)]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(found)) == 1


def test_a_generated_password_file_others_could_read_is_made_private_again(state_dir):
    password, path = web_password(WebConfig())
    path.chmod(0o644)
    assert web_password(WebConfig()) == (password, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_configured_password_wins_and_nothing_is_generated(state_dir, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, "pw-77c1")
    assert web_password(WebConfig(password="do-not-leak")) == ("do-not-leak", None)
    assert web_password(WebConfig()) == ("pw-77c1", None)  # the environment
    assert not state_dir.exists()


def test_a_password_file_is_read_and_named(tmp_path):
    secret = tmp_path / "web.pw"
    secret.write_text("do-not-print\n")
    assert web_password(WebConfig(password_file=secret)) == ("do-not-print", secret)


def test_an_empty_or_missing_password_file_is_a_config_error(tmp_path):
    empty = tmp_path / "empty.pw"
    empty.write_text("\n")
    with pytest.raises(ConfigError, match="empty"):
        web_password(WebConfig(password_file=empty))
    with pytest.raises(ConfigError, match="cannot read the web password file"):
        web_password(WebConfig(password_file=tmp_path / "missing.pw"))


def test_the_api_token_comes_from_config_file_or_environment_and_is_never_generated(
    tmp_path, monkeypatch
):
    assert web_api_token(WebConfig()) is None
    assert web_api_token(WebConfig(api_token="tok-3f9a")) == "tok-3f9a"
    token_file = tmp_path / "token"
    token_file.write_text("token-9e\n")
    assert web_api_token(WebConfig(api_token_file=token_file)) == "token-9e"
    monkeypatch.setenv(API_TOKEN_ENV, "token-1f")
    assert web_api_token(WebConfig()) == "token-1f"
    token_file.write_text("")
    with pytest.raises(ConfigError, match="empty"):
        web_api_token(WebConfig(api_token_file=token_file))


def test_secrets_do_not_show_in_the_config_repr():
    web = WebConfig(password="do-not-leak", api_token="tok-3f9a")
    assert "do-not-leak" not in repr(web) and "tok-3f9a" not in str(web.model_dump())
